/* bench/gemm: GFLOP/s of nn_gemm on the selected device, on the shapes training runs, three ways:
 * nn_gemm with the engine the device chooses, nn_gemm with CLBlast forced (NN_GEMM=clblast), and
 * the host's BLAS called directly on host memory - the limit the device paths are held to.
 * Each figure is the best of three trials of `repeats` calls.  Usage: nn-bench-gemm [repeats]
 * CLBlast runs with the parameters `nnrun --tune` stored for the device, if any. Before and after:
 *   NN_CACHE=$(mktemp -d) nn-bench-gemm; nnrun --tune; nn-bench-gemm   (see bench/README.md) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"

typedef struct {
  const char *what;
  bool ta, tb;
  size_t m, n, k;
} shape;

enum { TRIALS = 3 };

/* Seconds per GEMM through nn_gemm on `cl`, best of TRIALS; < 0 on error (message in nn_error). */
static double time_device(nn_cl *cl, const shape *s, int repeats, const float *a, const float *b) {
  size_t m = s->m, n = s->n, k = s->k;
  nn_buffer A, B, C;
  double best = -1;
  if (nn_cl_alloc(cl, m * k * 4, "A", &A) || nn_cl_alloc(cl, k * n * 4, "B", &B) ||
      nn_cl_alloc(cl, m * n * 4, "C", &C) || nn_cl_write(cl, &A, 0, a, m * k * 4) ||
      nn_cl_write(cl, &B, 0, b, k * n * 4))
    return -1;
  nn_matrix ma = {A.mem, 0, s->ta ? m : k}, mb = {B.mem, 0, s->tb ? k : n}, mc = {C.mem, 0, n};
  /* The first call compiles CLBlast's kernels (and starts OpenBLAS's threads): keep it out. */
  if (nn_gemm(cl, s->ta, s->tb, m, n, k, 1, ma, mb, 0, mc, "warm-up") == 0 && nn_cl_finish(cl) == 0) {
    for (int t = 0; t < TRIALS; t++) {
      double t0 = nn_seconds();
      for (int r = 0; r < repeats; r++) nn_gemm(cl, s->ta, s->tb, m, n, k, 1, ma, mb, 0, mc, "bench");
      nn_cl_finish(cl);
      double dt = (nn_seconds() - t0) / repeats;
      if (best < 0 || dt < best) best = dt;
    }
  }
  nn_cl_free(cl, &A), nn_cl_free(cl, &B), nn_cl_free(cl, &C);
  return best;
}

static double time_host(const shape *s, int repeats, const float *a, const float *b, float *c) {
  int m = (int)s->m, n = (int)s->n, k = (int)s->k;
  double best = -1;
  for (int t = 0; t <= TRIALS; t++) {  /* trial 0 warms up */
    double t0 = nn_seconds();
    for (int r = 0; r < repeats; r++)
      cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, m, n, k, 1, a,
                  s->ta ? m : k, b, s->tb ? k : n, 0, c, n);
    double dt = (nn_seconds() - t0) / repeats;
    if (t > 0 && (best < 0 || dt < best)) best = dt;
  }
  return best;
}

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 5;
  if (repeats < 1) repeats = 1;
  nn_cl *chosen, *clblast;
  if (nn_cl_open(&chosen, nn_env("NN_DEVICE"), false) != 0) {
    fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
    return 2;
  }
  const char *engine = nn_gemm_engine(chosen);
  setenv("NN_GEMM", "clblast", 1);  /* a second device handle, decided once, with CLBlast forced */
  if (nn_cl_open(&clblast, nn_env("NN_DEVICE"), true) != 0) {
    fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
    return 2;
  }
  nn_gemm_engine(clblast);
  /* MLP-1 ([1000,1000] on MNIST, batch 128) in training, then a convolution and a large square. */
  shape shapes[] = {
      {"MLP-1 layer 1 forward", false, true, 128, 1000, 784},
      {"MLP-1 layer 1 weight gradient", true, false, 1000, 784, 128},
      {"MLP-1 layer 2 input gradient", false, false, 128, 1000, 1000},
      {"MLP-1 output forward", false, true, 128, 10, 1000},
      {"conv 5x5x32->64, 14x14, batch 8", false, false, 64, 1568, 800},
      {"square", false, false, 2048, 2048, 2048},
  };
  printf("device: %s\n\n| shape | op(A) x op(B): M x N x K | nn_gemm, %s | nn_gemm, CLBlast forced | host BLAS direct |\n"
         "|---|---|---|---|---|\n",
         nn_cl_device(chosen)->name, engine);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const shape *sh = &shapes[s];
    size_t m = sh->m, n = sh->n, k = sh->k;
    float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
    for (size_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    double t_chosen = time_device(chosen, sh, repeats, a, b), t_clblast = time_device(clblast, sh, repeats, a, b);
    if (t_chosen < 0 || t_clblast < 0) {
      fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
      return 1;
    }
    double t_host = time_host(sh, repeats, a, b, c);
    double gflop = 2.0 * (double)m * (double)n * (double)k * 1e-9;
    printf("| %s | %s%s %zux%zux%zu | %.1f | %.1f | %.1f |\n", sh->what, sh->ta ? "T" : "N", sh->tb ? "T" : "N", m, n,
           k, gflop / t_chosen, gflop / t_clblast, gflop / t_host);
    fflush(stdout);
    free(a), free(b), free(c);
  }
  nn_cl_close(clblast);
  nn_cl_close(chosen);
  return 0;
}
