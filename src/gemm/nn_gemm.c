/* nn_gemm: the engines behind nn_gemm.h. The only file that calls CLBlast or a host BLAS.
 *
 * Three engines, chosen once per opened device; NN_GEMM overrides the choice:
 *
 *   oneDNN's sgemm in the device's queue, on CPU devices that run native kernels (the default
 *   there). On PoCL's pthread device (2-core EPYC) CLBlast reaches 6-14 GFLOP/s where a host BLAS
 *   reaches 100-400 on the same shapes (bench/gemm.c): PoCL's compiled work-groups are far from a
 *   hand-tuned micro-kernel. clEnqueueNativeKernel runs a host function as a command of the in-order
 *   queue, after the kernels that write the operands and before those that read C, and hands it the
 *   buffers' host addresses; so the graph stays one OpenCL program and the host thread never waits.
 *   Mapping the buffers and calling BLAS from the host thread instead needs a clFinish per GEMM: the
 *   host could not enqueue the next ops while a GEMM runs, and every map and unmap is another round
 *   trip.
 *
 *   OpenBLAS in the queue the same way (NN_GEMM=openblas). Which host library: oneDNN picks its
 *   kernels from the instructions the CPU has; Debian 12's OpenBLAS (0.3.21) does not know AMD's
 *   Zen 4 and runs its AVX2 kernels there, and this workplace pins it to them (OPENBLAS_CORETYPE=
 *   Haswell, as that build computes wrong results on some processors). oneDNN's AVX-512 kernels ran
 *   the report's GEMMs 1.3-2.4x faster than OpenBLAS on the 2-core EPYC (2048^3: 397 against 208
 *   GFLOP/s; CNN-1's conv products 1.7-2.4x; a CNN-1 training step 74-84 ms against 117-120).
 *   oneDNN is what PyTorch's CPU convolutions run on, too.
 *
 *   CLBlast everywhere else, and for the rare GEMM whose sizes overflow BLAS's int. Its kernels
 *   take the parameters `nnrun --tune` found for the device, if it was tuned (nn_gemm_tune.c).
 *
 * The host function gets the operands' addresses through nn_cl_enqueue_host, which resolves
 * sub-buffers and works around PoCL's way of filling them in (nn_cl.c).
 *
 * Threads. The host library runs a GEMM on the PoCL worker executing the native kernel plus its
 * own threads (OpenMP's for oneDNN, a pool for OpenBLAS), as many in all as the device has compute
 * units. The in-order queue runs nothing else meanwhile and PoCL's other workers sleep, so the two
 * do not oversubscribe the cores: over 40 GEMMs of 1024^3 on 2 cores with OpenBLAS the busy threads
 * were that worker and one OpenBLAS thread, PoCL's other worker used 1% of the time, and after the
 * GEMMs OpenBLAS's idle thread took 2% of the time of the PoCL kernels that followed.
 */
#include "nn_gemm.h"

#include <cblas.h>
#include <clblast_c.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn_base.h"
#include "nn_gemm_tune.h"

/* Values of nn_cl_gemm_choice(); the last two are NN_GEMM mistakes every GEMM reports. */
enum { ENGINE_CLBLAST = 1, ENGINE_ONEDNN, ENGINE_OPENBLAS, ENGINE_BAD_NAME, ENGINE_NO_HOST };

static bool on_host(int choice) { return choice == ENGINE_ONEDNN || choice == ENGINE_OPENBLAS; }

static int engine(nn_cl *cl) {
  int *choice = nn_cl_gemm_choice(cl);
  if (*choice) return *choice;
  const char *want = nn_env("NN_GEMM");
  bool host = nn_cl_runs_host(cl);
  /* The host library asked for ("host" is the default one); 0 if NN_GEMM names none. */
  int library = !want || strcasecmp(want, "onednn") == 0 || strcasecmp(want, "host") == 0 ? ENGINE_ONEDNN
                : strcasecmp(want, "openblas") == 0                                        ? ENGINE_OPENBLAS
                                                                                           : 0;
  if (want && strcasecmp(want, "clblast") == 0) *choice = ENGINE_CLBLAST;
  else if (!library) *choice = ENGINE_BAD_NAME;
  else if (host) *choice = library;
  else *choice = want ? ENGINE_NO_HOST : ENGINE_CLBLAST; /* unset: CLBlast where the host cannot run */
  /* OpenBLAS sizes its pool from the process's CPU affinity, and its rounding depends on how many
   * threads share a GEMM: a sweep member trained under mpirun (one core per rank) would differ in
   * the last bits from the same member run alone. The device's compute units do not depend on
   * affinity, and they are the cores the rest of the graph runs on. (oneDNN's threads are set per
   * GEMM, in host_step_run: OpenMP's count belongs to the calling thread, a PoCL worker.) */
  if (*choice == ENGINE_OPENBLAS) openblas_set_num_threads((int)nn_cl_device(cl)->compute_units);
  /* CLBlast's kernels as `nnrun --tune` left them for this device, if it was tuned. */
  if (*choice == ENGINE_CLBLAST) nn_gemm_tune_apply(cl, NULL, 0);
  return *choice;
}

static int engine_error(nn_cl *cl, int choice, const char *what) {
  if (choice == ENGINE_NO_HOST)
    return nn_fail("%s: NN_GEMM=%s, but %s cannot run host functions in its queue (not a CPU device "
                   "with native kernels); use NN_GEMM=clblast or leave it unset", what, nn_env("NN_GEMM"),
                   nn_cl_device(cl)->name);
  const char *want = nn_env("NN_GEMM");
  return nn_fail("%s: NN_GEMM='%s': use onednn, openblas, clblast, or leave it unset", what, want ? want : "");
}

const char *nn_gemm_engine(nn_cl *cl) {
  switch (engine(cl)) {
    case ENGINE_ONEDNN: return "oneDNN (native kernel)";
    case ENGINE_OPENBLAS: return "OpenBLAS (native kernel)";
    case ENGINE_CLBLAST: return "CLBlast";
  }
  return "none (see NN_GEMM)";
}

bool nn_gemm_is_onednn(nn_cl *cl) { return engine(cl) == ENGINE_ONEDNN; }

/* Checks an operand's extent, so that a planner bug is an error naming the operation rather than
 * a read past a buffer: on the device a fault, on the host path a crash. rows x cols as stored
 * (before op()); `batch` of them, `stride` elements apart. */
static int check_operand(const char *what, char name, nn_matrix x, size_t rows, size_t cols, size_t stride,
                         size_t batch) {
  if (rows == 0 || cols == 0) return 0;
  if (x.ld < cols)
    return nn_fail("%s: GEMM operand %c has leading dimension %zu < %zu columns", what, name, x.ld, cols);
  size_t bytes = 0;
  if (nn_cl_check(clGetMemObjectInfo(x.mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), what) != 0) return -1;
  size_t end = x.offset + (batch - 1) * stride + (rows - 1) * x.ld + cols;
  if (end > bytes / sizeof(float))
    return nn_fail("%s: GEMM operand %c needs %zu elements of a %zu-element buffer", what, name, end,
                   bytes / sizeof(float));
  return 0;
}

/* "128x1000x784", or "4 x 6x196x75" for a batch of 4, for errors. */
static const char *shape_name(char *out, size_t size, size_t batch, size_t m, size_t n, size_t k) {
  if (batch == 1) snprintf(out, size, "%zux%zux%zu", m, n, k);
  else snprintf(out, size, "%zu x %zux%zux%zu", batch, m, n, k);
  return out;
}

/* ---- host BLAS as native kernels ---- */

/* One GEMM for the host: the job of its host function. */
typedef struct host_gemm {
  size_t at[3];      /* elements from each buffer's first one to A's, B's, C's */
  size_t stride[3];  /* elements between the batch's consecutive A, B, C */
  size_t batch;
  blasint m, n, k, ld[3];
  bool trans_a, trans_b;
  float alpha, beta;
  int library;       /* ENGINE_ONEDNN or ENGINE_OPENBLAS */
  int threads;       /* oneDNN's: the device's compute units */
} host_gemm;

/* addr: the buffers of A, B and C. */
static void host_gemm_run(void *job, char *const *addr) {
  const host_gemm *g = job;
  const float *a = (const float *)addr[0] + g->at[0], *b = (const float *)addr[1] + g->at[1];
  float *c = (float *)addr[2] + g->at[2];
  if (g->library == ENGINE_ONEDNN) omp_set_num_threads(g->threads);
  for (size_t i = 0; i < g->batch; i++) {
    const float *ai = a + i * g->stride[0], *bi = b + i * g->stride[1];
    float *ci = c + i * g->stride[2];
    /* oneDNN fails only on arguments that nn_gemm_batched has checked (ld below the columns): were
     * it ever to, OpenBLAS does the product rather than leave C unwritten. */
    if (g->library == ENGINE_ONEDNN && dnnl_sgemm(g->trans_a ? 'T' : 'N', g->trans_b ? 'T' : 'N', g->m, g->n, g->k,
                                                  g->alpha, ai, g->ld[0], bi, g->ld[1], g->beta, ci,
                                                  g->ld[2]) == dnnl_success)
      continue;
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, g->m,
                g->n, g->k, g->alpha, ai, g->ld[0], bi, g->ld[1], g->beta, ci, g->ld[2]);
  }
}

/* The leading dimension BLAS is given: it insists on ld >= max(1, cols) even for an operand with no
 * rows, which reads nothing and so may carry any ld. */
static size_t blas_ld(nn_matrix x, size_t cols) {
  size_t ld = x.ld > cols ? x.ld : cols;
  return ld ? ld : 1;
}

static bool fits_blasint(size_t x) {
  blasint b = (blasint)x;
  return b >= 0 && (size_t)b == x;
}

static int host_enqueue(nn_cl *cl, int library, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                        float alpha, const nn_matrix x[3], const size_t cols[3], const size_t stride[3], float beta,
                        size_t batch, cl_event *event, const char *what) {
  host_gemm *g = nn_alloc(sizeof *g, what);
  if (!g) return -1;
  *g = (host_gemm){.batch = batch, .m = (blasint)m, .n = (blasint)n, .k = (blasint)k, .trans_a = trans_a,
                   .trans_b = trans_b, .alpha = alpha, .beta = beta, .library = library,
                   .threads = (int)nn_cl_device(cl)->compute_units};
  for (int i = 0; i < 3; i++) {
    g->at[i] = x[i].offset;
    g->ld[i] = (blasint)blas_ld(x[i], cols[i]);
    g->stride[i] = stride[i];
  }
  char shape[96], label[256];
  snprintf(label, sizeof label, "%s: GEMM %s on the host", what, shape_name(shape, sizeof shape, batch, m, n, k));
  const cl_mem mem[3] = {x[0].mem, x[1].mem, x[2].mem};
  return nn_cl_enqueue_host(cl, host_gemm_run, g, mem, 3, event, label);
}

/* ---- CLBlast ---- */

static int clblast_enqueue(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
                           const nn_matrix x[3], const size_t stride[3], float beta, size_t batch,
                           cl_event *event, const char *what) {
  cl_command_queue queue = nn_cl_queue(cl);
  CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastStatusCode st =
      batch == 1
          ? CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, x[0].mem, x[0].offset, x[0].ld, x[1].mem,
                         x[1].offset, x[1].ld, beta, x[2].mem, x[2].offset, x[2].ld, &queue, event)
          : CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, x[0].mem, x[0].offset,
                                       x[0].ld, stride[0], x[1].mem, x[1].offset, x[1].ld, stride[1], beta,
                                       x[2].mem, x[2].offset, x[2].ld, stride[2], batch, &queue, event);
  char shape[96];
  if (st != CLBlastSuccess)
    return nn_fail("%s: GEMM %s: %s (%d)", what, shape_name(shape, sizeof shape, batch, m, n, k), nn_cl_error_name(st),
                   (int)st);
  return 0;
}

/* ---- the interface ---- */

int nn_gemm_batched(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k,
                    float alpha, nn_matrix a, size_t stride_a, nn_matrix b, size_t stride_b,
                    float beta, nn_matrix c, size_t stride_c, size_t batch, const char *what) {
  if (m == 0 || n == 0 || batch == 0) return 0;
  int choice = engine(cl);
  if (!on_host(choice) && choice != ENGINE_CLBLAST) return engine_error(cl, choice, what);
  const nn_matrix x[3] = {a, b, c};
  const size_t rows[3] = {trans_a ? k : m, trans_b ? n : k, m};
  const size_t cols[3] = {trans_a ? m : k, trans_b ? k : n, n};
  const size_t stride[3] = {stride_a, stride_b, stride_c};
  for (int i = 0; i < 3; i++)
    if (check_operand(what, "ABC"[i], x[i], rows[i], cols[i], stride[i], batch) != 0) return -1;
  bool fits = fits_blasint(m) && fits_blasint(n) && fits_blasint(k);
  for (int i = 0; i < 3; i++) fits = fits && fits_blasint(blas_ld(x[i], cols[i]));
  double t = nn_cl_launch_begin(cl);
  cl_event ev;
  cl_event *event = nn_cl_launch_event(cl, &ev);
  int st = on_host(choice) && fits
               ? host_enqueue(cl, choice, trans_a, trans_b, m, n, k, alpha, x, cols, stride, beta, batch, event, what)
               : clblast_enqueue(cl, trans_a, trans_b, m, n, k, alpha, x, stride, beta, batch, event, what);
  /* The profile keeps GEMMs apart by shape ("gemm 64x3528x512"): which ones run slowly matters. */
  char label[64] = "gemm ";
  if (nn_cl_profiling(cl)) shape_name(label + 5, sizeof label - 5, batch, m, n, k);
  return st != 0 ? -1 : nn_cl_launch_end(cl, t, label, CL_SUCCESS, ev, what);
}

int nn_gemm(nn_cl *cl, bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
            nn_matrix a, nn_matrix b, float beta, nn_matrix c, const char *what) {
  return nn_gemm_batched(cl, trans_a, trans_b, m, n, k, alpha, a, 0, b, 0, beta, c, 0, 1, what);
}
