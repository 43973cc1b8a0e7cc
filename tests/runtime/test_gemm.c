/* GEMM against a float64 host reference on odd shapes, transposes, offsets, padded leading
 * dimensions, alpha/beta and strided batches, run once per engine: the device's own choice (oneDNN
 * as a native kernel on CPU devices), OpenBLAS (NN_GEMM=openblas) and CLBlast (NN_GEMM=clblast),
 * all on the same cases and the same random data.
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

/* How the operands lie on the device. The host engine must find each operand's host address
 * whichever way, and PoCL hands native kernels their buffers in creation order, so the order in
 * which the buffers were created matters too. */
typedef enum {
  SEPARATE,  /* one buffer each, created A, B, C */
  REVERSED,  /* one buffer each, created C, B, A */
  SHARED,    /* one buffer, operands at different element offsets */
  ARENA,     /* sub-buffers of one buffer, at non-zero origins */
  MODEL,     /* a linear layer as the planner lays it out: B (weights) a buffer created first, A and
              * C sub-buffers of an activation arena created after it */
  LAYOUTS
} layout;

typedef struct {
  size_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  size_t off;    /* element offset of every operand inside its place */
  size_t pad;    /* extra columns in every leading dimension */
  size_t batch;  /* 1: nn_gemm; more: nn_gemm_batched */
  size_t gap;    /* extra elements between consecutive matrices of a batch */
  layout where;
} gemm_case;

/* One operand as stored: rows x cols with leading dimension ld, `batch` copies `stride` apart,
 * after `off` elements; `count` elements in all. */
typedef struct {
  size_t rows, cols, ld, stride, count;
} extent;

static extent extent_of(gemm_case g, size_t rows, size_t cols) {
  extent e = {rows, cols, cols + g.pad, 0, 0};
  e.stride = rows * e.ld + g.gap;
  e.count = g.off + (g.batch - 1) * e.stride + rows * e.ld;
  return e;
}

/* Where one operand went: the handle the GEMM gets and its first element there, and the buffer
 * and byte offset the test writes and reads it through. */
typedef struct {
  cl_mem mem;
  size_t first;
  nn_buffer *io;
  size_t io_at;
} placement;

static void run_case(nn_cl *cl, const char *engine, gemm_case g, nn_rng *rng) {
  extent ex[3] = {extent_of(g, g.ta ? g.k : g.m, g.ta ? g.m : g.k), extent_of(g, g.tb ? g.n : g.k, g.tb ? g.k : g.n),
                  extent_of(g, g.m, g.n)};
  float *host[3], *out[3];
  for (int i = 0; i < 3; i++) {
    host[i] = malloc(ex[i].count * 4);
    out[i] = malloc(ex[i].count * 4);
    for (size_t j = 0; j < ex[i].count; j++) host[i][j] = (float)(nn_rng_uniform(rng) * 2 - 1);
  }
  /* Which operands get a buffer of their own, in the order they are created; the rest share one. */
  bool apart = g.where == SEPARATE || g.where == REVERSED;
  bool own_buffer[3] = {apart, apart || g.where == MODEL, apart};
  nn_buffer own[3] = {{0}}, whole = {0};
  cl_mem sub[3] = {NULL, NULL, NULL};
  placement p[3];
  for (int j = 0; j < 3; j++) {
    int i = g.where == REVERSED ? 2 - j : j;
    if (!own_buffer[i]) continue;
    CHECK_OK(nn_cl_alloc(cl, ex[i].count * 4, "operand", &own[i]));
    p[i] = (placement){own[i].mem, 0, &own[i], 0};
  }
  size_t align = nn_cl_device(cl)->base_align, total = 0, at[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (own_buffer[i]) continue;
    /* Sub-buffer origins must be multiples of the device's alignment; start past 0 so they are not 0. */
    if (g.where != SHARED) total = (total / align + 1) * align;
    at[i] = total;
    total += ex[i].count * 4;
  }
  if (total) CHECK_OK(nn_cl_alloc(cl, total, "operands", &whole));
  for (int i = 0; i < 3; i++) {
    if (!own_buffer[i] && g.where == SHARED) {
      p[i] = (placement){whole.mem, at[i] / 4, &whole, at[i]};
    } else if (!own_buffer[i]) {
      cl_int st;
      cl_buffer_region region = {at[i], ex[i].count * 4};
      sub[i] = clCreateSubBuffer(whole.mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &st);
      CHECK_OK(nn_cl_check(st, "create sub-buffer"));
      p[i] = (placement){sub[i], 0, &whole, at[i]};
    }
    CHECK_OK(nn_cl_write(cl, p[i].io, p[i].io_at, host[i], ex[i].count * 4));
  }
  nn_matrix a = {p[0].mem, p[0].first + g.off, ex[0].ld}, b = {p[1].mem, p[1].first + g.off, ex[1].ld},
            c = {p[2].mem, p[2].first + g.off, ex[2].ld};
  if (g.batch == 1)
    CHECK_OK(nn_gemm(cl, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, b, g.beta, c, "test"));
  else
    CHECK_OK(nn_gemm_batched(cl, g.ta, g.tb, g.m, g.n, g.k, g.alpha, a, ex[0].stride, b, ex[1].stride, g.beta, c,
                             ex[2].stride, g.batch, "test"));
  for (int i = 0; i < 3; i++) CHECK_OK(nn_cl_read(cl, p[i].io, p[i].io_at, out[i], ex[i].count * 4));

  double u = ldexp(1.0, -24), gamma = (double)(g.k + 2) * u / (1 - (double)(g.k + 2) * u);
  size_t bad = 0, clobbered = 0;
  double worst = 0;
  const float *A = host[0], *B = host[1], *C = host[2];
  char *window = calloc(ex[2].count, 1);  /* C's elements the GEMM may write */
  for (size_t q = 0; q < g.batch; q++) {
    size_t oa = g.off + q * ex[0].stride, ob = g.off + q * ex[1].stride, oc = g.off + q * ex[2].stride;
    for (size_t i = 0; i < g.m; i++)
      for (size_t j = 0; j < g.n; j++) {
        double ref = 0, mag = 0;
        for (size_t l = 0; l < g.k; l++) {
          double x = g.ta ? A[oa + l * ex[0].ld + i] : A[oa + i * ex[0].ld + l];
          double y = g.tb ? B[ob + j * ex[1].ld + l] : B[ob + l * ex[1].ld + j];
          ref += x * y;
          mag += fabs(x * y);
        }
        size_t e = oc + i * ex[2].ld + j;
        double c0 = C[e];
        ref = g.alpha * ref + g.beta * c0;
        double bound = 2 * gamma * (fabs(g.alpha) * mag + fabs(g.beta * c0)) + 1e-30;
        double err = fabs(out[2][e] - ref);
        if (err / bound > worst) worst = err / bound;
        if (!(err <= bound)) bad++;
        window[e] = 1;
      }
  }
  /* Everything outside C's windows (offset prefix, padding, batch gaps, A and B) is untouched. */
  for (size_t e = 0; e < ex[2].count; e++) clobbered += !window[e] && out[2][e] != C[e];
  for (int i = 0; i < 2; i++) clobbered += memcmp(out[i], host[i], ex[i].count * 4) != 0;
  static const char *layouts[] = {"separate", "reversed", "shared", "arena", "model"};
  CHECK(bad == 0 && clobbered == 0,
        "%s: %zu x %zux%zux%zu ta=%d tb=%d off=%zu pad=%zu gap=%zu %s: %zu elements beyond the bound (worst %.2f "
        "of it), %zu clobbered",
        engine, g.batch, g.m, g.n, g.k, g.ta, g.tb, g.off, g.pad, g.gap, layouts[g.where], bad, worst, clobbered);
  free(window);
  for (int i = 0; i < 3; i++) {
    if (sub[i]) clReleaseMemObject(sub[i]);
    nn_cl_free(cl, &own[i]);
    free(host[i]), free(out[i]);
  }
  nn_cl_free(cl, &whole);
}

/* Does this device run host functions in its queue? Then the automatic choice is the host BLAS. */
static bool runs_native_kernels(nn_cl *cl) {
  cl_device_exec_capabilities caps = 0;
  clGetDeviceInfo(nn_cl_device(cl)->id, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL);
  return (nn_cl_device(cl)->type & CL_DEVICE_TYPE_CPU) && (caps & CL_EXEC_NATIVE_KERNEL);
}

/* Operand errors name the operation instead of faulting, on either engine. */
static void check_errors(nn_cl *cl, const char *engine) {
  nn_buffer X;
  CHECK_OK(nn_cl_alloc(cl, 64, "X", &X));
  CHECK(nn_gemm(cl, false, false, 2, 4, 4, 1, (nn_matrix){X.mem, 0, 3}, (nn_matrix){X.mem, 0, 4}, 0,
                (nn_matrix){X.mem, 0, 4}, "linear 'fc1' forward") != 0 &&
            strstr(nn_error(), "linear 'fc1' forward") && strstr(nn_error(), "operand A"),
        "%s: %s", engine, nn_error());
  /* 16 floats: B (4x4) from element 4 runs past the end. */
  CHECK(nn_gemm(cl, false, false, 2, 4, 4, 1, (nn_matrix){X.mem, 0, 4}, (nn_matrix){X.mem, 4, 4}, 0,
                (nn_matrix){X.mem, 0, 4}, "conv 'c1' backward") != 0 &&
            strstr(nn_error(), "conv 'c1' backward") && strstr(nn_error(), "operand B"),
        "%s: %s", engine, nn_error());
  CHECK(nn_gemm_batched(cl, false, false, 2, 2, 2, 1, (nn_matrix){X.mem, 0, 2}, 4, (nn_matrix){X.mem, 0, 2}, 4, 0,
                        (nn_matrix){X.mem, 0, 2}, 4, 5, "batched") != 0 &&
            strstr(nn_error(), "operand A"),
        "%s: %s", engine, nn_error());
  nn_cl_free(cl, &X);
}

/* Runs every case with NN_GEMM=want (NULL: unset), which must give the engine `host` names on a
 * device with native kernels and CLBlast on others; a host library the device cannot run is skipped. */
static void run_engine(const char *want, const char *host, const gemm_case *cases, size_t ncases) {
  if (want) setenv("NN_GEMM", want, 1);
  else unsetenv("NN_GEMM");
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), want != NULL) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return;
  }
  if (!runs_native_kernels(cl) && want && strcmp(want, "clblast") != 0) {
    printf("NN_GEMM=%s: skipped, %s runs no native kernels\n", want, nn_cl_device(cl)->name);
    nn_cl_close(cl);
    return;
  }
  const char *engine = nn_gemm_engine(cl);
  const char *expect = runs_native_kernels(cl) ? host : "CLBlast";
  CHECK(strcmp(engine, expect) == 0, "NN_GEMM=%s: engine %s, expected %s", want ? want : "(unset)", engine, expect);
  printf("engine: %s\n", engine);
  nn_rng rng;
  nn_rng_seed(&rng, 42);  /* the same data for every engine */
  for (size_t i = 0; i < ncases; i++) run_case(cl, engine, cases[i], &rng);
  check_errors(cl, engine);
  nn_cl_close(cl);
}

int main(void) {
  gemm_case cases[64] = {
      {1, 1, 1, false, false, 1, 0, 0, 0, 1, 0, SEPARATE},
      {7, 13, 5, false, false, 1, 0, 0, 0, 1, 0, REVERSED},
      {7, 13, 5, true, false, 0.5f, 2, 3, 1, 1, 0, SHARED},
      {7, 13, 5, false, true, -1, 1, 5, 2, 1, 0, ARENA},
      {7, 13, 5, true, true, 2, -0.5f, 1, 3, 1, 0, ARENA},
      {128, 1000, 784, false, true, 1, 0, 0, 0, 1, 0, MODEL},   /* linear forward: X(128,784) W(1000,784)^T */
      {784, 1000, 128, true, false, 1, 1, 0, 0, 1, 0, ARENA},   /* weight gradient, accumulated */
      {128, 784, 1000, false, false, 1, 0, 0, 0, 1, 0, MODEL},  /* input gradient */
      {33, 1, 65, false, false, 1, 0, 7, 0, 1, 0, SHARED},
      {1, 257, 31, true, true, 1, 0, 0, 5, 1, 0, SEPARATE},
      {6, 196, 75, false, false, 1, 0, 0, 0, 4, 0, MODEL},      /* convolution: W(6,75) cols(75,196), 4 images */
      {5, 9, 3, true, true, -2, 0.25f, 2, 1, 3, 7, SHARED},
  };
  size_t ncases = 12;
  /* Random shapes, one of every kind of operand placement and transpose among them. */
  nn_rng rng;
  nn_rng_seed(&rng, 7);
  const float alphas[] = {1, -0.5f, 2.5f}, betas[] = {0, 1, -1.5f};
  for (int i = 0; i < 24; i++)
    cases[ncases++] = (gemm_case){1 + nn_rng_below(&rng, 67), 1 + nn_rng_below(&rng, 67),
                                  1 + nn_rng_below(&rng, 67), nn_rng_below(&rng, 2), nn_rng_below(&rng, 2),
                                  alphas[nn_rng_below(&rng, 3)], betas[nn_rng_below(&rng, 3)],
                                  nn_rng_below(&rng, 10), nn_rng_below(&rng, 5), 1 + nn_rng_below(&rng, 4),
                                  nn_rng_below(&rng, 6), (layout)nn_rng_below(&rng, LAYOUTS)};
  run_engine(NULL, "oneDNN (native kernel)", cases, ncases);
  run_engine("openblas", "OpenBLAS (native kernel)", cases, ncases);
  run_engine("clblast", "CLBlast", cases, ncases);

  /* NN_GEMM=host names the default host library. */
  setenv("NN_GEMM", "host", 1);
  nn_cl *cl;
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), true) == 0) {
    const char *expect = runs_native_kernels(cl) ? "oneDNN (native kernel)" : "none (see NN_GEMM)";
    CHECK(strcmp(nn_gemm_engine(cl), expect) == 0, "NN_GEMM=host: engine %s, expected %s", nn_gemm_engine(cl),
          expect);
    nn_cl_close(cl);
  }

  /* A misspelt NN_GEMM fails every GEMM with a message that says what it accepts. */
  setenv("NN_GEMM", "mkl", 1);
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), true) == 0) {
    nn_buffer X;
    CHECK_OK(nn_cl_alloc(cl, 64, "X", &X));
    nn_matrix x = {X.mem, 0, 2};
    CHECK(nn_gemm(cl, false, false, 2, 2, 2, 1, x, x, 0, x, "linear 'fc2' forward") != 0 &&
              strstr(nn_error(), "linear 'fc2' forward") && strstr(nn_error(), "NN_GEMM='mkl'"),
          "%s", nn_error());
    nn_cl_free(cl, &X);
    nn_cl_close(cl);
  }
  return nn_test_done();
}
