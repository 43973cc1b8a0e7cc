/* bench/gemm: GFLOP/s of nn_gemm on the selected device, on the shapes training runs, five ways:
 * nn_gemm with the engine the device chooses, with OpenBLAS (NN_GEMM=openblas, CPU devices) and
 * with CLBlast forced (NN_GEMM=clblast), and the two host libraries, oneDNN and OpenBLAS, called
 * directly on host memory - the limits the device paths are held to.
 * Each figure is the best of three trials of `repeats` calls.  Usage: nn-bench-gemm [repeats]
 * CLBlast runs with the parameters `nnrun --tune` stored for the device, if any. Before and after:
 *   NN_CACHE=$(mktemp -d) nn-bench-gemm; nnrun --tune; nn-bench-gemm   (see bench/README.md) */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
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
  /* The first call compiles CLBlast's kernels (and starts the host library's threads): keep it out. */
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

/* Seconds per GEMM of a host library called directly (oneDNN if `onednn`, else OpenBLAS), best
 * of TRIALS after one warming up. */
static double time_host(bool onednn, const shape *s, int repeats, const float *a, const float *b, float *c) {
  int m = (int)s->m, n = (int)s->n, k = (int)s->k, lda = s->ta ? m : k, ldb = s->tb ? k : n;
  double best = -1;
  for (int t = 0; t <= TRIALS; t++) {
    double t0 = nn_seconds();
    for (int r = 0; r < repeats; r++) {
      if (onednn) dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', m, n, k, 1, a, lda, b, ldb, 0, c, n);
      else cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, m, n, k,
                       1, a, lda, b, ldb, 0, c, n);
    }
    double dt = (nn_seconds() - t0) / repeats;
    if (t > 0 && (best < 0 || dt < best)) best = dt;
  }
  return best;
}

/* A device handle whose GEMMs use NN_GEMM=want (NULL: the device's choice); NULL on error. */
static nn_cl *open_engine(const char *want) {
  nn_cl *cl;
  if (want) setenv("NN_GEMM", want, 1);
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), want != NULL) != 0) {
    fprintf(stderr, "nn-bench-gemm: %s\n", nn_error());
    return NULL;
  }
  nn_gemm_engine(cl);  /* the engine is decided now, while NN_GEMM says `want` */
  return cl;
}

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 5;
  if (repeats < 1) repeats = 1;
  enum { ENGINES = 3 };
  nn_cl *engines[ENGINES] = {open_engine(NULL), open_engine("openblas"), open_engine("clblast")};
  for (int e = 0; e < ENGINES; e++)
    if (!engines[e]) return 2;
  /* MLP-1 ([1000,1000] on MNIST, batch 128) in training, CNN-1's second convolution (4x4, 32 -> 64
   * channels, stride 2, batch 128) and task 6's shared Dense(3136), then a large square. */
  shape shapes[] = {
      {"MLP-1 layer 1 forward", false, true, 128, 1000, 784},
      {"MLP-1 layer 1 weight gradient", true, false, 1000, 784, 128},
      {"MLP-1 layer 2 input gradient", false, false, 128, 1000, 1000},
      {"MLP-1 output forward", false, true, 128, 10, 1000},
      {"CNN-1 conv 2 forward", false, false, 64, 25088, 512},
      {"CNN-1 conv 2 weight gradient", false, true, 64, 512, 25088},
      {"CNN-1 conv 2 input gradient (18 images)", true, false, 512, 3528, 64},
      {"MTL Dense(3136) forward", false, true, 128, 3136, 6272},
      {"MTL Dense(3136) weight gradient", true, false, 3136, 6272, 128},
      {"square", false, false, 2048, 2048, 2048},
  };
  const char *engine = nn_gemm_engine(engines[0]), *second = nn_gemm_engine(engines[1]);
  printf("device: %s\n\n| shape | op(A) x op(B): M x N x K | nn_gemm, %s | nn_gemm, %s | nn_gemm, CLBlast | "
         "oneDNN direct | OpenBLAS direct |\n|---|---|---|---|---|---|---|\n",
         nn_cl_device(engines[0])->name, engine, second);
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const shape *sh = &shapes[s];
    size_t m = sh->m, n = sh->n, k = sh->k;
    float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
    for (size_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    double gflop = 2.0 * (double)m * (double)n * (double)k * 1e-9;
    printf("| %s | %s%s %zux%zux%zu |", sh->what, sh->ta ? "T" : "N", sh->tb ? "T" : "N", m, n, k);
    for (int e = 0; e < ENGINES; e++) {
      double t = time_device(engines[e], sh, repeats, a, b);
      if (t < 0) printf(" %s |", nn_error()); /* NN_GEMM=openblas where the device runs no native kernels */
      else printf(" %.1f |", gflop / t);
    }
    printf(" %.1f | %.1f |\n", gflop / time_host(true, sh, repeats, a, b, c), gflop / time_host(false, sh, repeats, a, b, c));
    fflush(stdout);
    free(a), free(b), free(c);
  }
  for (int e = 0; e < ENGINES; e++) nn_cl_close(engines[e]);
  return 0;
}
