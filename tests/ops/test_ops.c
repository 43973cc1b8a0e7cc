/* Op tests (suite 'ops'): every operation of nn_ops.h except convolution, pooling and batch
 * normalisation (test_conv.c), run on NN_DEVICE with random inputs and odd sizes (1, 7, 1000,
 * 4099 elements: float4 kernels with and without a tail; 1x1, 3x10, 129x7 matrices: one-group
 * reductions with fewer and more rows than work-items), compared with a float64 host reference.
 * Every backward is checked twice: against its float64 analytical formula, and against central
 * differences of the float64 forward reference (so the formula itself is checked too).
 *
 * Tolerances, in ops_check.h's measure |got - want| / (1 + |want|) (largest errors seen on PoCL
 * in brackets):
 * - TOL_ELEM 1e-5 for elementwise results: a float32 op rounds once or a few times (2^-24 =
 *   6e-8 each) and OpenCL's builtins are within 3 ulp (exp, log), 5 ulp (tanh) and 2.5 ulp
 *   (division), so errors stay below ~1e-6; 1e-5 leaves margin for -cl-mad-enable and for other
 *   devices' builtins. [7e-7, log-softmax backward; 1e-7 for most ops]
 * - TOL_SUM 1e-4 for sums of up to 10^5 terms (losses, reduce_to, sum). The roundings of
 *   random-sign terms add up like a random walk, to about 2^-24 sqrt(sum of the squared partial
 *   sums): ~3e-7 of (1 + |sum|) for 10^5 terms added in runs of ~400 and then a tree. (Worst-case
 *   bounds are far looser and not approached.) A wrong or missing term shows at 1e-3 and above.
 *   [1.4e-6, reduce_to's running sums over 64 rows]
 * - TOL_FD 1e-4 for a device gradient against central differences of the float64 forward with
 *   step FD_STEP = 1e-3: the truncation error FD_STEP^2 / 6 |f'''| is at most 3.3e-6 on the inputs
 *   used (exp on [-3, 3], log on [0.5, 3]; relu's kink is kept 0.01 away), float64 rounding adds
 *   ~1e-16 / FD_STEP, and the device gradient its float32 error. [8e-7]
 * - Optimisers: TOL_ELEM after 3 steps; each step rounds a few times per element. [1.1e-7]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_ops.h"
#include "nn_rng.h"
#include "nn_test.h"
#include "ops_check.h"

#define TOL_ELEM 1e-5
#define TOL_SUM 1e-4
#define TOL_FD 1e-4
#define FD_STEP 1e-3

static nn_cl *cl;
static nn_rng rng;

/* ---- helpers ---- */

static double *dalloc(int n) { return calloc((size_t)(n ? n : 1), sizeof(double)); }

/* A float64 reference forward y (m) = F(x (n)); ctx holds the op's other inputs and shape. */
typedef void (*ref_fn)(const void *ctx, const double *x, double *y);

/* grad (n) = d/dx of sum_i w[i] F(x)[i] at x0 by central differences. */
static void fd_grad(ref_fn f, const void *ctx, const float *x0, int n, const float *w, int m, double *grad) {
  double *x = dalloc(n), *yp = dalloc(m), *ym = dalloc(m);
  for (int j = 0; j < n; j++) x[j] = x0[j];
  for (int j = 0; j < n; j++) {
    x[j] = x0[j] + FD_STEP;
    f(ctx, x, yp);
    x[j] = x0[j] - FD_STEP;
    f(ctx, x, ym);
    x[j] = x0[j];
    double s = 0;
    for (int i = 0; i < m; i++) s += w[i] * (yp[i] - ym[i]);
    grad[j] = s / (2 * FD_STEP);
  }
  free(x);
  free(yp);
  free(ym);
}

/* An int32 buffer holding values (n). */
static nn_buffer upload_ints(const int32_t *values, int n) {
  nn_buffer b = {0};
  CHECK_OK(nn_cl_alloc(cl, (size_t)(n ? n : 1) * 4, "test ints", &b));
  if (n) CHECK_OK(nn_cl_write(cl, &b, 0, values, (size_t)n * 4));
  return b;
}

static dev_array dev_value(float v) {
  dev_array a = dev_new(cl, 1);
  a.host[0] = v;
  dev_upload(cl, &a);
  return a;
}

static int count4(const int d[4]) { return d[0] * d[1] * d[2] * d[3]; }

/* Flat offset of coordinates c in shape d, where d broadcasts (size-1 dimensions repeat). */
static int bcast_offset(const int d[4], const int c[4]) {
  int o = 0;
  for (int i = 0; i < 4; i++) o = o * d[i] + (d[i] == 1 ? 0 : c[i]);
  return o;
}

/* Calls body for every coordinate c of shape d, with flat index i. */
#define FOR_EACH4(d, c, i, body)                                     \
  for (int i = 0, c[4] = {0}; i < count4(d); i++) {                  \
    int t_ = i;                                                      \
    for (int k_ = 3; k_ >= 0; k_--) c[k_] = t_ % d[k_], t_ /= d[k_]; \
    body;                                                            \
  }

/* ---- unary and affine ---- */

static const char *const unary_names[] = {"relu", "sigmoid", "tanh", "exp", "log", "square"};

static double unary_ref(nn_unary f, double x) {
  switch (f) {
    case NN_UNARY_RELU: return x > 0 ? x : 0;
    case NN_UNARY_SIGMOID: return 1 / (1 + exp(-x));
    case NN_UNARY_TANH: return tanh(x);
    case NN_UNARY_EXP: return exp(x);
    case NN_UNARY_LOG: return log(x);
    case NN_UNARY_SQUARE: return x * x;
  }
  return NAN;
}

static double unary_grad_ref(nn_unary f, double x) {
  switch (f) {
    case NN_UNARY_RELU: return x > 0;
    case NN_UNARY_SIGMOID: return exp(-x) / ((1 + exp(-x)) * (1 + exp(-x)));
    case NN_UNARY_TANH: return 1 - tanh(x) * tanh(x);
    case NN_UNARY_EXP: return exp(x);
    case NN_UNARY_LOG: return 1 / x;
    case NN_UNARY_SQUARE: return 2 * x;
  }
  return NAN;
}

typedef struct {
  nn_unary f;
  int n;
} unary_ctx;

static void unary_fn(const void *ctx, const double *x, double *y) {
  const unary_ctx *c = ctx;
  for (int i = 0; i < c->n; i++) y[i] = unary_ref(c->f, x[i]);
}

static void test_unary(void) {
  const int sizes[] = {1, 7, 1000, 4099};
  for (nn_unary f = NN_UNARY_RELU; f <= NN_UNARY_SQUARE; f++)
    for (int s = 0; s < 4; s++) {
      int n = sizes[s];
      char label[96];
      dev_array x = dev_random(cl, &rng, n, f == NN_UNARY_LOG ? 0.5 : -3, 3), y = dev_new(cl, n);
      dev_array dy = dev_random(cl, &rng, n, -1, 1), dx = dev_new(cl, n);
      if (f == NN_UNARY_RELU) { /* away from the kink, for the finite differences */
        for (int i = 0; i < n; i++)
          if (fabsf(x.host[i]) < 0.01f) x.host[i] = 0.5f;
        dev_upload(cl, &x);
      }
      double *want = dalloc(n), *fd = dalloc(n);
      CHECK_OK(nn_op_unary(cl, f, x.buf.mem, y.buf.mem, n, "test unary"));
      dev_download(cl, &y);
      for (int i = 0; i < n; i++) want[i] = unary_ref(f, x.host[i]);
      snprintf(label, sizeof label, "%s forward n=%d", unary_names[f], n);
      CHECK_CLOSE(y.host, want, n, TOL_ELEM, label);

      CHECK_OK(nn_op_unary_backward(cl, f, x.buf.mem, y.buf.mem, dy.buf.mem, dx.buf.mem, n, "test unary backward"));
      dev_download(cl, &dx);
      for (int i = 0; i < n; i++) want[i] = dy.host[i] * unary_grad_ref(f, x.host[i]);
      snprintf(label, sizeof label, "%s backward n=%d", unary_names[f], n);
      CHECK_CLOSE(dx.host, want, n, TOL_ELEM, label);
      if (n <= 7) {
        unary_ctx ctx = {f, n};
        fd_grad(unary_fn, &ctx, x.host, n, dy.host, n, fd);
        snprintf(label, sizeof label, "%s backward vs finite differences n=%d", unary_names[f], n);
        CHECK_CLOSE(dx.host, fd, n, TOL_FD, label);
      }
      /* In place (y = x) gives the same bits. */
      CHECK_OK(nn_op_unary(cl, f, x.buf.mem, x.buf.mem, n, "test unary in place"));
      float *inplace = malloc((size_t)n * sizeof(float));
      CHECK_OK(nn_cl_read(cl, &x.buf, 0, inplace, (size_t)n * sizeof(float)));
      CHECK(memcmp(inplace, y.host, (size_t)n * sizeof(float)) == 0, "%s in place n=%d", unary_names[f], n);
      free(inplace);
      free(want);
      free(fd);
      dev_free(cl, &x);
      dev_free(cl, &y);
      dev_free(cl, &dy);
      dev_free(cl, &dx);
    }
}

static void test_affine(void) {
  const int sizes[] = {1, 7, 1000, 4099};
  for (int s = 0; s < 4; s++) {
    int n = sizes[s];
    dev_array x = dev_random(cl, &rng, n, -5, 5), y = dev_new(cl, n);
    double *want = dalloc(n);
    CHECK_OK(nn_op_affine(cl, x.buf.mem, y.buf.mem, n, -1.5f, 0.25f, "test affine"));
    dev_download(cl, &y);
    for (int i = 0; i < n; i++) want[i] = -1.5 * x.host[i] + 0.25;
    CHECK_CLOSE(y.host, want, n, TOL_ELEM, "affine");
    free(want);
    dev_free(cl, &x);
    dev_free(cl, &y);
  }
}

/* ---- broadcasting binary ops and reduce_to ---- */

typedef struct {
  const char *name;
  int a[4], b[4], y[4];
} bcast_case;

static const bcast_case bcast_cases[] = {
    {"same shape", {1, 1, 1, 4099}, {1, 1, 1, 4099}, {1, 1, 1, 4099}},
    {"same shape 4-D", {2, 3, 5, 7}, {2, 3, 5, 7}, {2, 3, 5, 7}},
    {"bias over rows (n,c)+(c)", {1, 1, 129, 7}, {1, 1, 1, 7}, {1, 1, 129, 7}},
    {"per channel (n,c,h,w)+(1,c,1,1)", {3, 5, 7, 9}, {1, 5, 1, 1}, {3, 5, 7, 9}},
    {"scalar*(tensor)", {1, 1, 1, 1}, {2, 3, 4, 5}, {2, 3, 4, 5}},
    {"both sides (3,1,5,1)+(1,4,1,6)", {3, 1, 5, 1}, {1, 4, 1, 6}, {3, 4, 5, 6}},
    {"column (n,1)+(n,c)", {1, 1, 129, 1}, {1, 1, 129, 7}, {1, 1, 129, 7}},
    {"1 element", {1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}},
    /* Few long rows: on a CPU the rows are split among work-items. */
    {"bias, few long rows (3,1000)+(1000)", {1, 1, 3, 1000}, {1, 1, 1, 1000}, {1, 1, 3, 1000}},
    {"scalar*(long vector)", {1, 1, 1, 1}, {1, 1, 1, 4099}, {1, 1, 1, 4099}},
};

static double binary_ref(nn_binary op, double a, double b) {
  switch (op) {
    case NN_BINARY_ADD: return a + b;
    case NN_BINARY_SUB: return a - b;
    case NN_BINARY_MUL: return a * b;
    case NN_BINARY_DIV: return a / b;
  }
  return NAN;
}

/* Random divisors away from 0: +-[0.5, 2]. */
static dev_array random_divisor(int n) {
  dev_array b = dev_random(cl, &rng, n, 0.5, 2);
  for (int i = 0; i < n; i++)
    if (nn_rng_u32(&rng) & 1) b.host[i] = -b.host[i];
  dev_upload(cl, &b);
  return b;
}

/* The float64 forward y = a op b of a case, as a function of a (wrt_b 0) or of b (wrt_b 1). */
typedef struct {
  const bcast_case *c;
  nn_binary op;
  int wrt_b;
  const float *other;
} binary_ctx;

static void binary_fn(const void *ctx, const double *v, double *y) {
  const binary_ctx *b = ctx;
  FOR_EACH4(b->c->y, c, i, {
    double av = b->wrt_b ? b->other[bcast_offset(b->c->a, c)] : v[bcast_offset(b->c->a, c)];
    double bv = b->wrt_b ? v[bcast_offset(b->c->b, c)] : b->other[bcast_offset(b->c->b, c)];
    y[i] = binary_ref(b->op, av, bv);
  })
}

/* reduce_to of x (full) into y (part) against a float64 sum. */
static void check_reduce_to(const int full[4], const int part[4], float scale, const char *name) {
  int nx = count4(full), ny = count4(part);
  dev_array x = dev_random(cl, &rng, nx, -1, 1), y = dev_new(cl, ny);
  double *want = dalloc(ny);
  CHECK_OK(nn_op_reduce_to(cl, x.buf.mem, full, y.buf.mem, part, scale, "test reduce_to"));
  dev_download(cl, &y);
  FOR_EACH4(full, c, i, want[bcast_offset(part, c)] += scale * (double)x.host[i]);
  char label[128];
  snprintf(label, sizeof label, "reduce_to %s", name);
  CHECK_CLOSE(y.host, want, ny, TOL_SUM, label);
  free(want);
  dev_free(cl, &x);
  dev_free(cl, &y);
}

/* The gradient of sum(w * (a op b)) with respect to one operand, as the graph engine builds it
 * from these ops: add: reduce_to(w); mul: reduce_to(w * other); compared with central
 * differences of the float64 forward. */
static void check_broadcast_backward(const bcast_case *bc, nn_binary op, int wrt_b, dev_array *a, dev_array *b,
                                     dev_array *w) {
  const int *own = wrt_b ? bc->b : bc->a, *other = wrt_b ? bc->a : bc->b;
  dev_array *mine = wrt_b ? b : a, *theirs = wrt_b ? a : b;
  int ny = count4(bc->y), n = count4(own);
  dev_array prod = dev_new(cl, ny), grad = dev_new(cl, n);
  cl_mem src = w->buf.mem;
  if (op == NN_BINARY_MUL) {
    CHECK_OK(
        nn_op_binary(cl, NN_BINARY_MUL, w->buf.mem, bc->y, theirs->buf.mem, other, prod.buf.mem, bc->y, "test w*b"));
    src = prod.buf.mem;
  }
  CHECK_OK(nn_op_reduce_to(cl, src, bc->y, grad.buf.mem, own, 1.0f, "test broadcast backward"));
  dev_download(cl, &grad);
  double *fd = dalloc(n);
  binary_ctx ctx = {bc, op, wrt_b, theirs->host};
  fd_grad(binary_fn, &ctx, mine->host, n, w->host, ny, fd);
  char label[160];
  snprintf(label, sizeof label, "%s backward wrt %s, %s, vs finite differences", op == NN_BINARY_ADD ? "add" : "mul",
           wrt_b ? "b" : "a", bc->name);
  CHECK_CLOSE(grad.host, fd, n, TOL_FD, label);
  free(fd);
  dev_free(cl, &prod);
  dev_free(cl, &grad);
}

static void test_binary(void) {
  static const char *const op_names[] = {"add", "sub", "mul", "div"};
  for (size_t k = 0; k < sizeof bcast_cases / sizeof bcast_cases[0]; k++) {
    const bcast_case *bc = &bcast_cases[k];
    int na = count4(bc->a), nb = count4(bc->b), ny = count4(bc->y);
    for (nn_binary op = NN_BINARY_ADD; op <= NN_BINARY_DIV; op++) {
      dev_array a = dev_random(cl, &rng, na, -2, 2), y = dev_new(cl, ny);
      dev_array b = op == NN_BINARY_DIV ? random_divisor(nb) : dev_random(cl, &rng, nb, -2, 2);
      double *want = dalloc(ny);
      CHECK_OK(nn_op_binary(cl, op, a.buf.mem, bc->a, b.buf.mem, bc->b, y.buf.mem, bc->y, "test binary"));
      dev_download(cl, &y);
      FOR_EACH4(bc->y, c, i, want[i] = binary_ref(op, a.host[bcast_offset(bc->a, c)], b.host[bcast_offset(bc->b, c)]));
      char label[128];
      snprintf(label, sizeof label, "%s %s", op_names[op], bc->name);
      CHECK_CLOSE(y.host, want, ny, TOL_ELEM, label);
      /* Finite differences cost ny^2 evaluations: skipped for the 4099-element case. */
      if ((op == NN_BINARY_ADD || op == NN_BINARY_MUL) && ny <= 1000) {
        dev_array w = dev_random(cl, &rng, ny, -1, 1);
        check_broadcast_backward(bc, op, 0, &a, &b, &w);
        check_broadcast_backward(bc, op, 1, &a, &b, &w);
        dev_free(cl, &w);
      }
      free(want);
      dev_free(cl, &a);
      dev_free(cl, &b);
      dev_free(cl, &y);
    }
    check_reduce_to(bc->y, bc->a, 1.0f, bc->name);
    check_reduce_to(bc->y, bc->b, 0.5f, bc->name);
  }
  check_reduce_to((const int[]){1, 1, 64, 1000}, (const int[]){1, 1, 1, 1000}, 1.0f, "(64,1000) to (1000)");
  /* Per-channel sums (a convolution's bias gradient), with planes smaller and larger than a
   * work-group, a batch of one and a channel count that is no power of two. */
  check_reduce_to((const int[]){5, 3, 7, 9}, (const int[]){1, 3, 1, 1}, 0.5f, "(5,3,7,9) to channels");
  check_reduce_to((const int[]){3, 4, 30, 30}, (const int[]){1, 4, 1, 1}, 1.0f, "(3,4,30,30) to channels");
  check_reduce_to((const int[]){1, 6, 17, 1}, (const int[]){1, 6, 1, 1}, 1.0f, "(1,6,17) to channels");
  check_reduce_to((const int[]){128, 32, 28, 28}, (const int[]){1, 32, 1, 1}, 1.0f, "CNN-1's first bias gradient");
  /* All the way to one number (the work-group sum), and an empty batch (zeros). */
  check_reduce_to((const int[]){7, 11, 13, 17}, (const int[]){1, 1, 1, 1}, 0.25f, "everything");
  check_reduce_to((const int[]){1, 3, 1, 1}, (const int[]){1, 3, 1, 1}, 2.0f, "nothing (a scaled copy)");
  dev_array y = dev_random(cl, &rng, 7, 1, 2);
  CHECK_OK(nn_op_reduce_to(cl, NULL, (const int[]){1, 1, 0, 7}, y.buf.mem, (const int[]){1, 1, 1, 7}, 1.0f, "empty"));
  dev_download(cl, &y);
  double zeros[7] = {0};
  CHECK_CLOSE(y.host, zeros, 7, 0.0, "reduce_to of an empty batch is 0");
  dev_free(cl, &y);
}

/* f(a + b) in one kernel (a bias add and its activation, as nn_plan fuses them) against f of the
 * float64 sum, over every broadcast case and every unary function. */
static void test_add_unary(void) {
  for (size_t k = 0; k < sizeof bcast_cases / sizeof bcast_cases[0]; k++) {
    const bcast_case *bc = &bcast_cases[k];
    int na = count4(bc->a), nb = count4(bc->b), ny = count4(bc->y);
    for (nn_unary f = NN_UNARY_RELU; f <= NN_UNARY_SQUARE; f++) {
      /* log's sum stays positive: a in [1, 2], b in [-0.5, 0.5] */
      bool positive = f == NN_UNARY_LOG;
      dev_array a = dev_random(cl, &rng, na, positive ? 1 : -2, 2), b = dev_random(cl, &rng, nb, positive ? -0.5 : -2, positive ? 0.5 : 2);
      dev_array y = dev_new(cl, ny);
      double *want = dalloc(ny);
      CHECK_OK(nn_op_add_unary(cl, f, a.buf.mem, bc->a, b.buf.mem, bc->b, y.buf.mem, bc->y, "test add_unary"));
      dev_download(cl, &y);
      FOR_EACH4(bc->y, c, i,
                want[i] = unary_ref(f, (double)a.host[bcast_offset(bc->a, c)] + b.host[bcast_offset(bc->b, c)]));
      char label[128];
      snprintf(label, sizeof label, "add then %s, %s", unary_names[f], bc->name);
      CHECK_CLOSE(y.host, want, ny, TOL_ELEM, label);
      free(want);
      dev_free(cl, &a);
      dev_free(cl, &b);
      dev_free(cl, &y);
    }
  }
}

/* ---- softmax ---- */

typedef struct {
  int rows, cols;
  bool log;
} softmax_ctx;

static void softmax_fn(const void *ctx, const double *x, double *y) {
  const softmax_ctx *c = ctx;
  for (int r = 0; r < c->rows; r++) {
    const double *xr = x + (size_t)r * c->cols;
    double *yr = y + (size_t)r * c->cols, m = -INFINITY, s = 0;
    for (int j = 0; j < c->cols; j++) m = fmax(m, xr[j]);
    for (int j = 0; j < c->cols; j++) s += exp(xr[j] - m);
    for (int j = 0; j < c->cols; j++) yr[j] = c->log ? xr[j] - m - log(s) : exp(xr[j] - m) / s;
  }
}

/* Logits around +-1000 (row by row), or within [-5, 5]. */
static dev_array random_logits(int rows, int cols, bool large) {
  dev_array x = dev_random(cl, &rng, rows * cols, -5, 5);
  if (large) {
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < cols; j++) x.host[r * cols + j] = (r % 2 ? -1000.0f : 1000.0f) + 30 * x.host[r * cols + j];
    /* and one row spanning both ends: exp underflows to 0 for most of it */
    if (rows > 2)
      for (int j = 0; j < cols; j++) x.host[2 * cols + j] = j % 2 ? -1000.0f - j : 1000.0f + j;
    dev_upload(cl, &x);
  }
  return x;
}

static void test_softmax(void) {
  const int shapes[][2] = {{1, 1}, {3, 10}, {129, 7}, {2, 1000}, {5, 300}};
  for (int s = 0; s < 5; s++)
    for (int large = 0; large < 2; large++)
      for (int lg = 0; lg < 2; lg++) {
        int rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        softmax_ctx ctx = {rows, cols, lg};
        dev_array x = random_logits(rows, cols, large), y = dev_new(cl, n), dy = dev_random(cl, &rng, n, -1, 1),
                  dx = dev_new(cl, n);
        double *want = dalloc(n), *fd = dalloc(n);
        char label[128];
        CHECK_OK(nn_op_softmax(cl, x.buf.mem, y.buf.mem, rows, cols, lg, "test softmax"));
        dev_download(cl, &y);
        double *xd = dalloc(n);
        for (int i = 0; i < n; i++) xd[i] = x.host[i];
        softmax_fn(&ctx, xd, want);
        snprintf(label, sizeof label, "%s %dx%d%s", lg ? "log_softmax" : "softmax", rows, cols,
                 large ? " large logits" : "");
        CHECK_CLOSE(y.host, want, n, TOL_ELEM, label);

        CHECK_OK(
            nn_op_softmax_backward(cl, y.buf.mem, dy.buf.mem, dx.buf.mem, rows, cols, lg, "test softmax backward"));
        dev_download(cl, &dx);
        for (int r = 0; r < rows; r++) {
          const float *yr = y.host + r * cols, *dyr = dy.host + r * cols;
          double sum = 0;
          for (int j = 0; j < cols; j++) sum += lg ? dyr[j] : (double)dyr[j] * yr[j];
          for (int j = 0; j < cols; j++)
            want[r * cols + j] = lg ? dyr[j] - exp((double)yr[j]) * sum : yr[j] * (dyr[j] - sum);
        }
        snprintf(label, sizeof label, "%s backward %dx%d%s", lg ? "log_softmax" : "softmax", rows, cols,
                 large ? " large logits" : "");
        CHECK_CLOSE(dx.host, want, n, TOL_ELEM, label);
        if (n <= 30 && !large) {
          fd_grad(softmax_fn, &ctx, x.host, n, dy.host, n, fd);
          snprintf(label, sizeof label, "%s backward %dx%d vs finite differences", lg ? "log_softmax" : "softmax", rows,
                   cols);
          CHECK_CLOSE(dx.host, fd, n, TOL_FD, label);
        }
        free(xd);
        free(want);
        free(fd);
        dev_free(cl, &x);
        dev_free(cl, &y);
        dev_free(cl, &dy);
        dev_free(cl, &dx);
      }
}

/* ---- cross-entropy and accuracy ---- */

typedef struct {
  int rows, cols;
  const int32_t *labels;
  double dloss;
} ce_ctx;

/* loss (1) = dloss * mean over rows of logsumexp(row) - row[label]. */
static void ce_fn(const void *ctx, const double *x, double *loss) {
  const ce_ctx *c = ctx;
  double total = 0;
  for (int r = 0; r < c->rows; r++) {
    const double *xr = x + (size_t)r * c->cols;
    double m = -INFINITY, s = 0;
    for (int j = 0; j < c->cols; j++) m = fmax(m, xr[j]);
    for (int j = 0; j < c->cols; j++) s += exp(xr[j] - m);
    total += m + log(s) - xr[c->labels[r]];
  }
  loss[0] = c->dloss * total / c->rows;
}

/* Labels in [0, cols), with the first row at 0 and the last at cols - 1. */
static int32_t *random_labels(int rows, int cols) {
  int32_t *l = malloc((size_t)rows * sizeof *l);
  for (int r = 0; r < rows; r++) l[r] = (int32_t)nn_rng_below(&rng, (uint32_t)cols);
  l[0] = 0;
  l[rows - 1] = cols - 1;
  return l;
}

static void test_cross_entropy(void) {
  const int shapes[][2] = {{1, 1}, {3, 10}, {7, 5}, {129, 7}, {1000, 10}, {4, 1000}};
  for (int s = 0; s < 6; s++)
    for (int large = 0; large < 2; large++) {
      int rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
      int32_t *labels = random_labels(rows, cols);
      nn_buffer lab = upload_ints(labels, rows);
      dev_array x = random_logits(rows, cols, large), loss = dev_new(cl, 1), dloss = dev_value(0.7f),
                dx = dev_new(cl, n);
      ce_ctx ctx = {rows, cols, labels, 1.0};
      double want, *xd = dalloc(n), *wantg = dalloc(n), *fd = dalloc(n);
      for (int i = 0; i < n; i++) xd[i] = x.host[i];
      char label[128];
      CHECK_OK(nn_op_cross_entropy(cl, x.buf.mem, lab.mem, loss.buf.mem, rows, cols, "test cross-entropy"));
      dev_download(cl, &loss);
      ce_fn(&ctx, xd, &want);
      snprintf(label, sizeof label, "cross-entropy %dx%d%s", rows, cols, large ? " large logits" : "");
      CHECK_CLOSE(loss.host, &want, 1, TOL_SUM, label);

      CHECK_OK(nn_op_cross_entropy_backward(cl, x.buf.mem, lab.mem, dloss.buf.mem, dx.buf.mem, rows, cols,
                                            "test cross-entropy backward"));
      dev_download(cl, &dx);
      softmax_ctx sctx = {rows, cols, false};
      softmax_fn(&sctx, xd, wantg);
      for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) wantg[r * cols + j] = (wantg[r * cols + j] - (j == labels[r])) * 0.7f / rows;
      snprintf(label, sizeof label, "cross-entropy backward %dx%d%s", rows, cols, large ? " large logits" : "");
      CHECK_CLOSE(dx.host, wantg, n, TOL_ELEM, label);
      if (n <= 35 && !large) {
        ctx.dloss = 0.7f;
        float one = 1;
        fd_grad(ce_fn, &ctx, x.host, n, &one, 1, fd);
        snprintf(label, sizeof label, "cross-entropy backward %dx%d vs finite differences", rows, cols);
        CHECK_CLOSE(dx.host, fd, n, TOL_FD, label);
      }
      free(xd);
      free(wantg);
      free(fd);
      free(labels);
      nn_cl_free(cl, &lab);
      dev_free(cl, &x);
      dev_free(cl, &loss);
      dev_free(cl, &dloss);
      dev_free(cl, &dx);
    }
  /* A label outside [0, cols) is not read through: the loss is NaN, visibly. */
  int32_t bad[2] = {1, 3};
  nn_buffer lab = upload_ints(bad, 2);
  dev_array x = dev_random(cl, &rng, 6, -1, 1), loss = dev_new(cl, 1), correct = dev_new(cl, 1);
  CHECK_OK(nn_op_cross_entropy(cl, x.buf.mem, lab.mem, loss.buf.mem, 2, 3, "test bad label"));
  CHECK_OK(nn_op_accuracy(cl, x.buf.mem, lab.mem, correct.buf.mem, 2, 3, "test bad label"));
  dev_download(cl, &loss);
  dev_download(cl, &correct);
  CHECK(isnan(loss.host[0]), "a label out of range gives a NaN loss, got %g", loss.host[0]);
  CHECK(correct.host[0] <= 1, "a label out of range is never correct, got %g", correct.host[0]);
  nn_cl_free(cl, &lab);
  dev_free(cl, &x);
  dev_free(cl, &loss);
  dev_free(cl, &correct);
}

static void test_accuracy(void) {
  const int shapes[][2] = {{1, 1}, {3, 10}, {129, 7}, {1000, 10}};
  for (int s = 0; s < 4; s++) {
    int rows = shapes[s][0], cols = shapes[s][1];
    dev_array x = dev_random(cl, &rng, rows * cols, -1, 1), correct = dev_new(cl, 1);
    int32_t *labels = random_labels(rows, cols);
    /* Every third row has a tie for the maximum at two columns; its label is the first of them
     * (correct) or the second (wrong) in turn. Other rows: the label is the argmax half the time. */
    for (int r = 0; r < rows && cols > 1; r++) {
      float *xr = x.host + r * cols;
      int j1 = (int)nn_rng_below(&rng, (uint32_t)cols - 1),
          j2 = j1 + 1 + (int)nn_rng_below(&rng, (uint32_t)(cols - j1 - 1));
      if (r % 3 == 0) {
        xr[j1] = xr[j2] = 2.0f;
        labels[r] = r % 2 ? j1 : j2;
      } else if (r % 2) {
        xr[j1] = 2.0f;
        labels[r] = j1;
      }
    }
    dev_upload(cl, &x);
    nn_buffer lab = upload_ints(labels, rows);
    int want = 0;
    for (int r = 0; r < rows; r++) {
      int best = 0;
      for (int j = 1; j < cols; j++)
        if (x.host[r * cols + j] > x.host[r * cols + best]) best = j;
      want += best == labels[r];
    }
    CHECK_OK(nn_op_accuracy(cl, x.buf.mem, lab.mem, correct.buf.mem, rows, cols, "test accuracy"));
    dev_download(cl, &correct);
    CHECK(correct.host[0] == (float)want, "accuracy %dx%d: %g correct, want %d", rows, cols, correct.host[0], want);
    free(labels);
    nn_cl_free(cl, &lab);
    dev_free(cl, &x);
    dev_free(cl, &correct);
  }
}

/* ---- MSE, sums and scalars ---- */

typedef struct {
  int n;
  const float *target;
  double dloss;
} mse_ctx;

static void mse_fn(const void *ctx, const double *p, double *loss) {
  const mse_ctx *c = ctx;
  double s = 0;
  for (int i = 0; i < c->n; i++) s += (p[i] - c->target[i]) * (p[i] - c->target[i]);
  loss[0] = c->dloss * s / c->n;
}

static void test_mse(void) {
  const int sizes[] = {1, 7, 1000, 4099};
  for (int s = 0; s < 4; s++) {
    int n = sizes[s];
    dev_array p = dev_random(cl, &rng, n, -2, 2), t = dev_random(cl, &rng, n, -2, 2), loss = dev_new(cl, 1),
              dloss = dev_value(1.3f), dp = dev_new(cl, n);
    mse_ctx ctx = {n, t.host, 1.0};
    double want, *pd = dalloc(n), *wantg = dalloc(n), *fd = dalloc(n);
    for (int i = 0; i < n; i++) pd[i] = p.host[i];
    CHECK_OK(nn_op_mse(cl, p.buf.mem, t.buf.mem, loss.buf.mem, n, "test mse"));
    dev_download(cl, &loss);
    mse_fn(&ctx, pd, &want);
    CHECK_CLOSE(loss.host, &want, 1, TOL_SUM, "mse");
    CHECK_OK(nn_op_mse_backward(cl, p.buf.mem, t.buf.mem, dloss.buf.mem, dp.buf.mem, n, "test mse backward"));
    dev_download(cl, &dp);
    for (int i = 0; i < n; i++) wantg[i] = 2.0 * (p.host[i] - (double)t.host[i]) * 1.3f / n;
    CHECK_CLOSE(dp.host, wantg, n, TOL_ELEM, "mse backward");
    if (n <= 7) {
      ctx.dloss = 1.3f;
      float one = 1;
      fd_grad(mse_fn, &ctx, p.host, n, &one, 1, fd);
      CHECK_CLOSE(dp.host, fd, n, TOL_FD, "mse backward vs finite differences");
    }
    free(pd);
    free(wantg);
    free(fd);
    dev_free(cl, &p);
    dev_free(cl, &t);
    dev_free(cl, &loss);
    dev_free(cl, &dloss);
    dev_free(cl, &dp);
  }
}

typedef struct {
  int n;
  double scale;
} sum_ctx;

static void sum_fn(const void *ctx, const double *x, double *y) {
  const sum_ctx *c = ctx;
  y[0] = 0;
  for (int i = 0; i < c->n; i++) y[0] += c->scale * x[i];
}

static void test_sum(void) {
  const int sizes[] = {0, 1, 7, 1000, 4099, 100003};
  for (int s = 0; s < 6; s++) {
    int n = sizes[s];
    float scale = s % 2 ? 1.0f : 1.0f / (float)(n ? n : 1); /* a sum and a mean */
    dev_array x = dev_random(cl, &rng, n, -1, 1), y = dev_value(42.0f);
    double want = 0;
    CHECK_OK(nn_op_sum(cl, x.buf.mem, y.buf.mem, n, scale, "test sum"));
    dev_download(cl, &y);
    sum_ctx ctx = {n, scale};
    double *xd = dalloc(n);
    for (int i = 0; i < n; i++) xd[i] = x.host[i];
    sum_fn(&ctx, xd, &want);
    char label[64];
    snprintf(label, sizeof label, "sum n=%d", n);
    CHECK_CLOSE(y.host, &want, 1, TOL_SUM, label);
    free(xd);
    dev_free(cl, &x);
    dev_free(cl, &y);
  }
  /* broadcast_scalar is sum's backward: against the analytical value and finite differences. */
  for (int s = 1; s < 5; s++) {
    int n = sizes[s];
    dev_array ds = dev_value(1.5f), dx = dev_new(cl, n);
    CHECK_OK(nn_op_broadcast_scalar(cl, ds.buf.mem, dx.buf.mem, n, -0.5f, "test broadcast"));
    dev_download(cl, &dx);
    double *want = dalloc(n);
    for (int i = 0; i < n; i++) want[i] = -0.75;
    CHECK_CLOSE(dx.host, want, n, TOL_ELEM, "broadcast_scalar");
    if (n <= 7) {
      dev_array x = dev_random(cl, &rng, n, -1, 1);
      sum_ctx ctx = {n, -0.5};
      fd_grad(sum_fn, &ctx, x.host, n, ds.host, 1, want);
      CHECK_CLOSE(dx.host, want, n, TOL_FD, "broadcast_scalar vs finite differences of sum");
      dev_free(cl, &x);
    }
    free(want);
    dev_free(cl, &ds);
    dev_free(cl, &dx);
  }
  dev_array acc = dev_new(cl, 4), x = dev_value(2.5f);
  dev_upload(cl, &acc);
  CHECK_OK(nn_op_accumulate(cl, x.buf.mem, acc.buf.mem, 2, 0.5f, "test accumulate"));
  CHECK_OK(nn_op_accumulate(cl, x.buf.mem, acc.buf.mem, 2, 0.5f, "test accumulate"));
  CHECK_OK(nn_op_accumulate(cl, x.buf.mem, acc.buf.mem, 3, -1.0f, "test accumulate"));
  dev_download(cl, &acc);
  CHECK(acc.host[0] == 0 && acc.host[1] == 0 && acc.host[2] == 2.5f && acc.host[3] == -2.5f, "accumulate: %g %g %g %g",
        acc.host[0], acc.host[1], acc.host[2], acc.host[3]);
  dev_free(cl, &acc);
  dev_free(cl, &x);
}

/* ---- dropout ---- */

/* The kernel's mask, on the host: MurmurHash3 (32-bit) of the element index keyed by the seed. */
static uint32_t murmur3_32(uint32_t seed, uint32_t k) {
  k *= 0xcc9e2d51u;
  k = k << 15 | k >> 17;
  k *= 0x1b873593u;
  uint32_t h = seed ^ k;
  h = h << 13 | h >> 19;
  h = h * 5u + 0xe6546b64u;
  h ^= 4u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static bool keep(uint32_t seed, int i, float rate) {
  return (float)(murmur3_32(seed, (uint32_t)i) >> 8) * (1.0f / 16777216.0f) >= rate;
}

typedef struct {
  int n;
  uint32_t seed;
  float rate;
} dropout_ctx;

static void dropout_fn(const void *ctx, const double *x, double *y) {
  const dropout_ctx *c = ctx;
  for (int i = 0; i < c->n; i++) y[i] = keep(c->seed, i, c->rate) ? x[i] / (1 - (double)c->rate) : 0;
}

static void test_dropout(void) {
  const int sizes[] = {7, 1000, 4099, 100000};
  const float rates[] = {0.0f, 0.5f, 0.3f, 1.0f};
  for (int s = 0; s < 4; s++)
    for (int r = 0; r < 4; r++) {
      int n = sizes[s];
      float p = rates[r];
      uint32_t seed = 1234u + (uint32_t)s;
      dev_array x = dev_random(cl, &rng, n, 0.5, 2), y = dev_new(cl, n), dy = dev_random(cl, &rng, n, -1, 1),
                dx = dev_new(cl, n), rate = dev_value(p);
      CHECK_OK(nn_op_dropout(cl, x.buf.mem, y.buf.mem, rate.buf.mem, n, seed, "test dropout"));
      CHECK_OK(nn_op_dropout_backward(cl, dy.buf.mem, dx.buf.mem, rate.buf.mem, n, seed, "test dropout backward"));
      dev_download(cl, &y);
      dev_download(cl, &dx);
      dropout_ctx ctx = {n, seed, p};
      double *want = dalloc(n), *xd = dalloc(n);
      for (int i = 0; i < n; i++) xd[i] = x.host[i];
      dropout_fn(&ctx, xd, want);
      char label[96];
      snprintf(label, sizeof label, "dropout n=%d rate=%g", n, p);
      CHECK_CLOSE(y.host, want, n, TOL_ELEM, label);
      int kept = 0, same_mask = 1;
      for (int i = 0; i < n; i++) {
        kept += y.host[i] != 0;
        same_mask &= (y.host[i] != 0) == (dx.host[i] != 0 || dy.host[i] == 0);
      }
      if (p == 0) CHECK(memcmp(y.host, x.host, (size_t)n * sizeof(float)) == 0, "%s is the identity", label);
      if (p == 1) CHECK(kept == 0, "%s drops everything, kept %d", label, kept);
      if (p == 0.5f) {
        /* Binomial(n, 1/2): 5 standard deviations. */
        CHECK(fabs(kept - n / 2.0) <= 5 * sqrt(n / 4.0) + 1, "%s kept %d of %d", label, kept, n);
        int doubled = 1;
        for (int i = 0; i < n; i++) doubled &= y.host[i] == 0 || y.host[i] == 2 * x.host[i];
        CHECK(doubled, "%s scales what it keeps by exactly 2", label);
      }
      CHECK(same_mask, "%s backward uses the forward's mask", label);
      for (int i = 0; i < n; i++) want[i] = keep(seed, i, p) ? dy.host[i] / (1 - (double)p) : 0;
      snprintf(label, sizeof label, "dropout backward n=%d rate=%g", n, p);
      CHECK_CLOSE(dx.host, want, n, TOL_ELEM, label);
      if (n <= 7 && p < 1) {
        fd_grad(dropout_fn, &ctx, x.host, n, dy.host, n, want);
        snprintf(label, sizeof label, "dropout backward n=%d rate=%g vs finite differences", n, p);
        CHECK_CLOSE(dx.host, want, n, TOL_FD, label);
      }
      free(want);
      free(xd);
      dev_free(cl, &x);
      dev_free(cl, &y);
      dev_free(cl, &dy);
      dev_free(cl, &dx);
      dev_free(cl, &rate);
    }
  /* Same seed, same mask; another seed, an independent mask (agreeing on about half). */
  int n = 10000;
  dev_array x = dev_random(cl, &rng, n, 1, 2), a = dev_new(cl, n), b = dev_new(cl, n), c = dev_new(cl, n),
            rate = dev_value(0.5f);
  CHECK_OK(nn_op_dropout(cl, x.buf.mem, a.buf.mem, rate.buf.mem, n, 7, "test dropout seed"));
  CHECK_OK(nn_op_dropout(cl, x.buf.mem, b.buf.mem, rate.buf.mem, n, 7, "test dropout seed"));
  CHECK_OK(nn_op_dropout(cl, x.buf.mem, c.buf.mem, rate.buf.mem, n, 8, "test dropout seed"));
  dev_download(cl, &a);
  dev_download(cl, &b);
  dev_download(cl, &c);
  int agree = 0;
  for (int i = 0; i < n; i++) agree += (a.host[i] != 0) == (c.host[i] != 0);
  CHECK(memcmp(a.host, b.host, (size_t)n * sizeof(float)) == 0, "the same seed gives the same mask");
  CHECK(fabs(agree - n / 2.0) <= 5 * sqrt(n / 4.0), "seeds 7 and 8 agree on %d of %d elements", agree, n);
  dev_free(cl, &x);
  dev_free(cl, &a);
  dev_free(cl, &b);
  dev_free(cl, &c);
  dev_free(cl, &rate);
}

/* ---- gather ---- */

static void test_gather(void) {
  enum { COUNT = 50, SIZE = 13, START = 7, N = 20 };
  nn_buffer images, labels_i32, labels_u8, features, index;
  uint8_t img[COUNT * SIZE], lab8[COUNT];
  int32_t lab32[COUNT], perm[COUNT];
  float feat[COUNT * 3];
  for (int i = 0; i < COUNT * SIZE; i++) img[i] = (uint8_t)nn_rng_below(&rng, 256);
  for (int i = 0; i < COUNT; i++) lab32[i] = (int32_t)nn_rng_below(&rng, 10), lab8[i] = (uint8_t)lab32[i];
  for (int i = 0; i < COUNT * 3; i++) feat[i] = (float)nn_rng_normal(&rng);
  for (int i = 0; i < COUNT; i++) perm[i] = i;
  nn_rng_shuffle(&rng, perm, COUNT);
  CHECK_OK(nn_cl_alloc(cl, sizeof img, "images", &images));
  CHECK_OK(nn_cl_alloc(cl, sizeof lab8, "labels u8", &labels_u8));
  CHECK_OK(nn_cl_alloc(cl, sizeof feat, "features", &features));
  CHECK_OK(nn_cl_write(cl, &images, 0, img, sizeof img));
  CHECK_OK(nn_cl_write(cl, &labels_u8, 0, lab8, sizeof lab8));
  CHECK_OK(nn_cl_write(cl, &features, 0, feat, sizeof feat));
  labels_i32 = upload_ints(lab32, COUNT);
  index = upload_ints(perm, COUNT);

  dev_array out = dev_new(cl, N * SIZE);
  double want[N * SIZE];
  CHECK_OK(nn_op_gather(cl, images.mem, NN_COLUMN_U8, SIZE, index.mem, START, N, out.buf.mem, false, 1.0f / 255,
                        "test gather u8"));
  dev_download(cl, &out);
  for (int b = 0; b < N; b++)
    for (int j = 0; j < SIZE; j++) want[b * SIZE + j] = img[perm[START + b] * SIZE + j] / 255.0;
  CHECK_CLOSE(out.host, want, N * SIZE, TOL_ELEM, "gather u8 images scaled by 1/255");

  CHECK_OK(nn_op_gather(cl, features.mem, NN_COLUMN_F32, 3, index.mem, START, N, out.buf.mem, false, 2.0f,
                        "test gather f32"));
  dev_download(cl, &out);
  for (int b = 0; b < N; b++)
    for (int j = 0; j < 3; j++) want[b * 3 + j] = 2.0 * feat[perm[START + b] * 3 + j];
  CHECK_CLOSE(out.host, want, N * 3, TOL_ELEM, "gather f32 features scaled by 2");

  CHECK_OK(nn_op_gather(cl, labels_i32.mem, NN_COLUMN_I32, 1, index.mem, START, N, out.buf.mem, false, 0.5f,
                        "test gather i32 as float"));
  dev_download(cl, &out);
  for (int b = 0; b < N; b++) want[b] = 0.5 * lab32[perm[START + b]];
  CHECK_CLOSE(out.host, want, N, TOL_ELEM, "gather i32 as float");

  for (int t = 0; t < 2; t++) {
    int32_t got[N];
    CHECK_OK(nn_op_gather(cl, t ? labels_u8.mem : labels_i32.mem, t ? NN_COLUMN_U8 : NN_COLUMN_I32, 1, index.mem, START,
                          N, out.buf.mem, true, 1.0f, "test gather labels"));
    CHECK_OK(nn_cl_read(cl, &out.buf, 0, got, sizeof got));
    int same = 1;
    for (int b = 0; b < N; b++) same &= got[b] == lab32[perm[START + b]];
    CHECK(same, "gather %s labels as int32 through a permutation from %d", t ? "u8" : "i32", START);
  }

  /* Long samples, few of them (on a CPU each row is split among work-items). */
  enum { WIDE = 1500 };
  uint8_t *wide = malloc(COUNT * WIDE);
  for (int i = 0; i < COUNT * WIDE; i++) wide[i] = (uint8_t)nn_rng_below(&rng, 256);
  nn_buffer wide_buf;
  CHECK_OK(nn_cl_alloc(cl, COUNT * WIDE, "wide images", &wide_buf));
  CHECK_OK(nn_cl_write(cl, &wide_buf, 0, wide, COUNT * WIDE));
  dev_array wide_out = dev_new(cl, 3 * WIDE);
  double *wide_want = dalloc(3 * WIDE);
  CHECK_OK(nn_op_gather(cl, wide_buf.mem, NN_COLUMN_U8, WIDE, index.mem, START, 3, wide_out.buf.mem, false, 1.0f / 255,
                        "test gather wide"));
  dev_download(cl, &wide_out);
  for (int b = 0; b < 3; b++)
    for (int j = 0; j < WIDE; j++) wide_want[b * WIDE + j] = wide[perm[START + b] * WIDE + j] / 255.0;
  CHECK_CLOSE(wide_out.host, wide_want, 3 * WIDE, TOL_ELEM, "gather 3 samples of 1500 bytes");
  free(wide);
  free(wide_want);
  nn_cl_free(cl, &wide_buf);
  dev_free(cl, &wide_out);

  /* Sample numbers outside the data set are never read: NaN for features, -1 for labels. */
  int32_t bad[2] = {-1, COUNT};
  nn_buffer bad_index = upload_ints(bad, 2);
  CHECK_OK(nn_op_gather(cl, images.mem, NN_COLUMN_U8, SIZE, bad_index.mem, 0, 2, out.buf.mem, false, 1.0f, "bad"));
  dev_download(cl, &out);
  CHECK(isnan(out.host[0]) && isnan(out.host[2 * SIZE - 1]), "a bad sample number gives NaN features");
  int32_t got[2];
  CHECK_OK(nn_op_gather(cl, labels_i32.mem, NN_COLUMN_I32, 1, bad_index.mem, 0, 2, out.buf.mem, true, 1.0f, "bad"));
  CHECK_OK(nn_cl_read(cl, &out.buf, 0, got, sizeof got));
  CHECK(got[0] == -1 && got[1] == -1, "a bad sample number gives label -1: %d %d", got[0], got[1]);

  CHECK(nn_op_gather(cl, features.mem, NN_COLUMN_F32, 3, index.mem, 0, N, out.buf.mem, true, 1, "gather 'y'") != 0 &&
            strstr(nn_error(), "gather 'y'") && strstr(nn_error(), "float32"),
        "float labels are refused: %s", nn_error());
  CHECK(nn_op_gather(cl, images.mem, NN_COLUMN_U8, SIZE, index.mem, COUNT - N + 1, N, out.buf.mem, false, 1,
                     "gather 'x'") != 0 &&
            strstr(nn_error(), "gather 'x'") && strstr(nn_error(), "index"),
        "an index too short for start + n is refused: %s", nn_error());
  nn_cl_free(cl, &bad_index);
  nn_cl_free(cl, &images);
  nn_cl_free(cl, &labels_u8);
  nn_cl_free(cl, &labels_i32);
  nn_cl_free(cl, &features);
  nn_cl_free(cl, &index);
  dev_free(cl, &out);
}

/* ---- optimisers ---- */

static void test_sgd(void) {
  const struct {
    const char *name;
    float momentum, weight_decay;
    bool nesterov;
  } cases[] = {
      {"plain", 0, 0, false},
      {"momentum", 0.9f, 0, false},
      {"nesterov", 0.9f, 0, true},
      {"weight decay", 0, 0.01f, false},
      {"momentum and weight decay", 0.8f, 0.05f, false},
      {"nesterov and weight decay", 0.8f, 0.05f, true},
  };
  const int sizes[] = {7, 4099};
  const float lr = 0.1f;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int s = 0; s < 2; s++) {
      int n = sizes[s];
      float mu = cases[c].momentum, wd = cases[c].weight_decay;
      dev_array p = dev_random(cl, &rng, n, -1, 1), v = dev_new(cl, n);
      dev_upload(cl, &v);
      double *pw = dalloc(n), *vw = dalloc(n);
      for (int i = 0; i < n; i++) pw[i] = p.host[i];
      for (int step = 0; step < 3; step++) {
        dev_array g = dev_random(cl, &rng, n, -1, 1);
        CHECK_OK(
            nn_op_sgd(cl, p.buf.mem, g.buf.mem, mu ? v.buf.mem : NULL, n, lr, mu, cases[c].nesterov, wd, "test sgd"));
        for (int i = 0; i < n; i++) {
          double d = g.host[i] + (double)wd * pw[i];
          vw[i] = mu * vw[i] + d;
          pw[i] -= lr * (cases[c].nesterov ? d + mu * vw[i] : vw[i]);
        }
        dev_free(cl, &g);
      }
      dev_download(cl, &p);
      char label[96];
      snprintf(label, sizeof label, "sgd %s n=%d, 3 steps", cases[c].name, n);
      CHECK_CLOSE(p.host, pw, n, TOL_ELEM, label);
      if (mu) {
        dev_download(cl, &v);
        CHECK_CLOSE(v.host, vw, n, TOL_ELEM, label);
      }
      free(pw);
      free(vw);
      dev_free(cl, &p);
      dev_free(cl, &v);
    }
}

static void test_adam(void) {
  const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f, decays[] = {0, 0.01f};
  const int sizes[] = {7, 4099};
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < 2; s++) {
      int n = sizes[s];
      dev_array p = dev_random(cl, &rng, n, -1, 1), m = dev_new(cl, n), v = dev_new(cl, n);
      dev_upload(cl, &m);
      dev_upload(cl, &v);
      double *pw = dalloc(n), *mw = dalloc(n), *vw = dalloc(n);
      for (int i = 0; i < n; i++) pw[i] = p.host[i];
      for (int t = 1; t <= 3; t++) {
        dev_array g = dev_random(cl, &rng, n, -1, 1);
        CHECK_OK(
            nn_op_adam(cl, p.buf.mem, g.buf.mem, m.buf.mem, v.buf.mem, n, lr, b1, b2, eps, t, decays[d], "test adam"));
        for (int i = 0; i < n; i++) {
          double gd = g.host[i] + (double)decays[d] * pw[i];
          mw[i] = b1 * mw[i] + (1 - (double)b1) * gd;
          vw[i] = b2 * vw[i] + (1 - (double)b2) * gd * gd;
          pw[i] -= lr * (mw[i] / (1 - pow(b1, t))) / (sqrt(vw[i] / (1 - pow(b2, t))) + eps);
        }
        dev_free(cl, &g);
      }
      dev_download(cl, &p);
      dev_download(cl, &m);
      dev_download(cl, &v);
      char label[96];
      snprintf(label, sizeof label, "adam n=%d weight decay %g, 3 steps", n, decays[d]);
      CHECK_CLOSE(p.host, pw, n, TOL_ELEM, label);
      CHECK_CLOSE(m.host, mw, n, TOL_ELEM, label);
      CHECK_CLOSE(v.host, vw, n, TOL_ELEM, label);
      free(pw);
      free(mw);
      free(vw);
      dev_free(cl, &p);
      dev_free(cl, &m);
      dev_free(cl, &v);
    }
}

/* ---- argument errors: every one names the node ---- */

#define CHECK_FAILS(call, fragment)                                                      \
  CHECK((call) != 0 && strstr(nn_error(), "node 'z'") && strstr(nn_error(), (fragment)), \
        "%s should fail with '%s', got: %s", #call, (fragment), nn_error())

static void test_errors(void) {
  dev_array a = dev_new(cl, 8), b = dev_new(cl, 8), one = dev_new(cl, 1), big = dev_new(cl, 64);
  cl_mem x = a.buf.mem, y = b.buf.mem, s = one.buf.mem;
  const char *w = "node 'z'";
  CHECK_FAILS(nn_op_unary(cl, NN_UNARY_RELU, x, y, -1, w), "n = -1");
  CHECK_FAILS(nn_op_unary(cl, (nn_unary)99, x, y, 8, w), "unknown unary");
  CHECK_FAILS(nn_op_affine(cl, x, y, 9, 1, 0, w), "x holds 32 bytes");
  CHECK_FAILS(nn_op_unary_backward(cl, NN_UNARY_LOG, NULL, y, y, y, 8, w), "x is missing");
  CHECK_FAILS(nn_op_softmax(cl, x, y, 2, 0, false, w), "cols = 0");
  CHECK_FAILS(nn_op_softmax(cl, x, y, 3, 3, false, w), "holds 32 bytes");
  CHECK_FAILS(nn_op_binary(cl, NN_BINARY_ADD, x, (const int[]){1, 1, 2, 3}, y, (const int[]){1, 1, 2, 4}, y,
                           (const int[]){1, 1, 2, 4}, w),
              "does not broadcast");
  CHECK_FAILS(nn_op_add_unary(cl, (nn_unary)99, x, (const int[]){1, 1, 1, 8}, y, (const int[]){1, 1, 1, 8}, y,
                              (const int[]){1, 1, 1, 8}, w),
              "unknown unary");
  CHECK_FAILS(nn_op_add_unary(cl, NN_UNARY_RELU, x, (const int[]){1, 1, 2, 3}, y, (const int[]){1, 1, 2, 4}, y,
                              (const int[]){1, 1, 2, 4}, w),
              "does not broadcast");
  CHECK_FAILS(nn_op_binary(cl, (nn_binary)7, x, (const int[]){1, 1, 1, 8}, y, (const int[]){1, 1, 1, 8}, y,
                           (const int[]){1, 1, 1, 8}, w),
              "unknown binary");
  CHECK_FAILS(nn_op_reduce_to(cl, x, (const int[]){1, 1, 2, 4}, y, (const int[]){1, 1, 2, 2}, 1, w),
              "does not broadcast");
  CHECK_FAILS(nn_op_reduce_to(cl, x, (const int[]){1, 1, -2, 4}, y, (const int[]){1, 1, 1, 4}, 1, w), "negative");
  CHECK_FAILS(nn_op_cross_entropy(cl, x, y, s, 0, 4, w), "rows = 0");
  CHECK_FAILS(nn_op_cross_entropy_backward(cl, x, y, s, y, 2, 0, w), "cols = 0");
  CHECK_FAILS(nn_op_accuracy(cl, x, y, s, -3, 2, w), "rows = -3");
  CHECK_FAILS(nn_op_mse(cl, x, y, s, 0, w), "n = 0");
  CHECK_FAILS(nn_op_sum(cl, x, y, 100, 1, w), "x holds 32 bytes");
  CHECK_FAILS(nn_op_accumulate(cl, s, x, 8, 1, w), "acc holds 32 bytes");
  CHECK_FAILS(nn_op_dropout(cl, x, y, NULL, 8, 1, w), "rate is missing");
  CHECK_FAILS(nn_op_gather(cl, x, NN_COLUMN_U8, 0, y, 0, 1, y, false, 1, w), "sample_size = 0");
  CHECK_FAILS(nn_op_gather(cl, x, NN_COLUMN_U8, 4, y, -1, 1, y, false, 1, w), "start = -1");
  CHECK_FAILS(nn_op_gather(cl, x, NN_COLUMN_U8, 40, y, 0, 1, big.buf.mem, false, 1, w), "less than one sample");
  CHECK_FAILS(nn_op_sgd(cl, x, y, NULL, 8, 0.1f, 0.9f, false, 0, w), "velocity is missing");
  CHECK_FAILS(nn_op_adam(cl, x, y, x, y, 8, 0.1f, 0.9f, 0.999f, 1e-7f, 0, 0, w), "step t = 0");
  CHECK_FAILS(nn_op_adam(cl, x, y, x, y, 8, 0.1f, 1.0f, 0.999f, 1e-7f, 1, 0, w), "beta1 = 1");
  dev_free(cl, &a);
  dev_free(cl, &b);
  dev_free(cl, &one);
  dev_free(cl, &big);
}

int main(void) {
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    fprintf(stderr, "test_ops: %s\n", nn_error());
    return 1;
  }
  nn_rng_seed(&rng, 20240501);
  test_unary();
  test_affine();
  test_binary();
  test_add_unary();
  test_softmax();
  test_cross_entropy();
  test_accuracy();
  test_mse();
  test_sum();
  test_dropout();
  test_gather();
  test_sgd();
  test_adam();
  test_errors();
  CHECK_OK(nn_cl_finish(cl));
  nn_cl_close(cl);
  return nn_test_done();
}
