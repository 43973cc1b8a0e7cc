/* bench/gemm: GFLOP/s of nn_gemm on the selected device next to the host's BLAS, on the report's
 * shapes, so we always know the device's limit.  Usage: nn-bench-gemm [repeats] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"

typedef struct {
  const char *what;
  size_t m, n, k;
} shape;

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 5;
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
    return 2;
  }
  shape shapes[] = {{"MLP-1 layer 1 forward", 128, 1000, 784}, {"square", 2048, 2048, 2048}};
  printf("| shape | M x N x K | device (%s) GFLOP/s | host BLAS GFLOP/s |\n|---|---|---|---|\n",
         nn_cl_device(cl)->name);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    size_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
    float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
    for (size_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    nn_buffer A, B, C;
    if (nn_cl_alloc(cl, m * k * 4, "A", &A) || nn_cl_alloc(cl, k * n * 4, "B", &B) ||
        nn_cl_alloc(cl, m * n * 4, "C", &C) || nn_cl_write(cl, &A, 0, a, m * k * 4) ||
        nn_cl_write(cl, &B, 0, b, k * n * 4)) {
      fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
      return 1;
    }
    nn_matrix ma = {A.mem, 0, k}, mb = {B.mem, 0, n}, mc = {C.mem, 0, n};
    /* The first call compiles CLBlast's kernels: keep it out of the timing. */
    if (nn_gemm(cl, false, false, m, n, k, 1, ma, mb, 0, mc, "warm-up") || nn_cl_finish(cl)) {
      fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
      return 1;
    }
    double t0 = nn_seconds();
    for (int r = 0; r < repeats; r++) nn_gemm(cl, false, false, m, n, k, 1, ma, mb, 0, mc, "bench");
    nn_cl_finish(cl);
    double device = (nn_seconds() - t0) / repeats;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1, a, (int)k, b, (int)n, 0, c, (int)n);
    t0 = nn_seconds();
    for (int r = 0; r < repeats; r++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1, a, (int)k, b, (int)n, 0, c,
                  (int)n);
    double host = (nn_seconds() - t0) / repeats;
    double flop = 2.0 * (double)m * (double)n * (double)k;
    printf("| %s | %zux%zux%zu | %.1f | %.1f |\n", shapes[s].what, m, n, k, flop / device * 1e-9, flop / host * 1e-9);
    nn_cl_free(cl, &A), nn_cl_free(cl, &B), nn_cl_free(cl, &C);
    free(a), free(b), free(c);
  }
  nn_cl_close(cl);
  return 0;
}
