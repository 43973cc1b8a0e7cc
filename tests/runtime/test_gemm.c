/* GEMM against a float64 host reference on odd shapes, transposes, offsets and alpha/beta.
 *
 * Tolerance: for a float32 dot product of length k, any summation order (blocked, FMA or not) is
 * within gamma_k * sum_i |a_i||b_i| of the exact value, gamma_k = k*u/(1-k*u), u = 2^-24
 * (Higham, Accuracy and Stability, 3.1). We check |c - ref| <= 2 * gamma_(k+2) * (|alpha| |A||B| +
 * |beta||C0|) element by element: a bound any correct GEMM meets, and a wrong index or a missing
 * term of a random matrix breaks by orders of magnitude. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"
#include "nn_rng.h"
#include "nn_test.h"

typedef struct {
  size_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  size_t off;  /* element offset of every operand inside its buffer */
  size_t pad;  /* extra columns in every leading dimension */
} gemm_case;

static void run_case(nn_cl *cl, gemm_case g, nn_rng *rng) {
  size_t ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;  /* A as stored */
  size_t br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
  size_t lda = ac + g.pad, ldb = bc + g.pad, ldc = g.n + g.pad;
  size_t na = g.off + ar * lda, nb = g.off + br * ldb, nc = g.off + g.m * ldc;
  float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *out = malloc(nc * 4);
  for (size_t i = 0; i < na; i++) a[i] = (float)(nn_rng_uniform(rng) * 2 - 1);
  for (size_t i = 0; i < nb; i++) b[i] = (float)(nn_rng_uniform(rng) * 2 - 1);
  for (size_t i = 0; i < nc; i++) c[i] = (float)(nn_rng_uniform(rng) * 2 - 1);
  nn_buffer A, B, C;
  CHECK_OK(nn_cl_alloc(cl, na * 4, "A", &A));
  CHECK_OK(nn_cl_alloc(cl, nb * 4, "B", &B));
  CHECK_OK(nn_cl_alloc(cl, nc * 4, "C", &C));
  CHECK_OK(nn_cl_write(cl, &A, 0, a, na * 4));
  CHECK_OK(nn_cl_write(cl, &B, 0, b, nb * 4));
  CHECK_OK(nn_cl_write(cl, &C, 0, c, nc * 4));
  CHECK_OK(nn_gemm(cl, g.ta, g.tb, g.m, g.n, g.k, g.alpha, (nn_matrix){A.mem, g.off, lda},
                   (nn_matrix){B.mem, g.off, ldb}, g.beta, (nn_matrix){C.mem, g.off, ldc}, "test"));
  CHECK_OK(nn_cl_read(cl, &C, 0, out, nc * 4));
  double u = ldexp(1.0, -24), gamma = (double)(g.k + 2) * u / (1 - (double)(g.k + 2) * u);
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < g.m; i++)
    for (size_t j = 0; j < g.n; j++) {
      double ref = 0, mag = 0;
      for (size_t p = 0; p < g.k; p++) {
        double x = g.ta ? a[g.off + p * lda + i] : a[g.off + i * lda + p];
        double y = g.tb ? b[g.off + j * ldb + p] : b[g.off + p * ldb + j];
        ref += x * y;
        mag += fabs(x * y);
      }
      double c0 = c[g.off + i * ldc + j];
      ref = g.alpha * ref + g.beta * c0;
      double bound = 2 * gamma * (fabs(g.alpha) * mag + fabs(g.beta * c0)) + 1e-30;
      double err = fabs(out[g.off + i * ldc + j] - ref);
      if (err / bound > worst) worst = err / bound;
      if (!(err <= bound)) bad++;
    }
  /* Elements outside C's m x n window (offset prefix, padding columns) are untouched. */
  size_t clobbered = 0;
  for (size_t i = 0; i < g.off; i++) clobbered += out[i] != c[i];
  for (size_t i = 0; i < g.m; i++)
    for (size_t j = g.n; j < ldc; j++) clobbered += out[g.off + i * ldc + j] != c[g.off + i * ldc + j];
  CHECK(bad == 0 && clobbered == 0, "%zux%zux%zu ta=%d tb=%d off=%zu: %zu elements beyond the bound (worst %.2f of it), %zu clobbered",
        g.m, g.n, g.k, g.ta, g.tb, g.off, bad, worst, clobbered);
  nn_cl_free(cl, &A);
  nn_cl_free(cl, &B);
  nn_cl_free(cl, &C);
  free(a), free(b), free(c), free(out);
}

int main(void) {
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return nn_test_done();
  }
  nn_rng rng;
  nn_rng_seed(&rng, 42);
  gemm_case cases[] = {
      {1, 1, 1, false, false, 1, 0, 0, 0},
      {7, 13, 5, false, false, 1, 0, 0, 0},
      {7, 13, 5, true, false, 0.5f, 2, 3, 1},
      {7, 13, 5, false, true, -1, 1, 5, 2},
      {7, 13, 5, true, true, 2, -0.5f, 1, 3},
      {128, 1000, 784, false, true, 1, 0, 0, 0},   /* linear forward: X(128,784) W(1000,784)^T */
      {784, 1000, 128, true, false, 1, 1, 0, 0},   /* weight gradient, accumulated */
      {128, 784, 1000, false, false, 1, 0, 0, 0},  /* input gradient */
      {33, 1, 65, false, false, 1, 0, 7, 0},
      {1, 257, 31, true, true, 1, 0, 0, 5},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(cl, cases[i], &rng);
  /* Bad leading dimension is an error naming the operation, not a device fault. */
  nn_buffer X;
  CHECK_OK(nn_cl_alloc(cl, 64, "X", &X));
  CHECK(nn_gemm(cl, false, false, 2, 4, 4, 1, (nn_matrix){X.mem, 0, 3}, (nn_matrix){X.mem, 0, 4}, 0,
                (nn_matrix){X.mem, 0, 4}, "linear 'fc1' forward") != 0 &&
            strstr(nn_error(), "linear 'fc1' forward") && strstr(nn_error(), "operand A"),
        "%s", nn_error());
  nn_cl_free(cl, &X);
  nn_cl_close(cl);
  return nn_test_done();
}
