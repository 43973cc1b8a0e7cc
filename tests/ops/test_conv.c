/* Convolution, pooling and batch normalisation (nn_ops_conv.c) against float64 host references,
 * and every backward against central finite differences of the device's own forward.
 *
 * Tolerances (max |got - want| / (1 + |want|), see ops_check.h; each case prints what it measured):
 * - Convolution inputs are multiples of 1/4 in [-1, 1]: every product is a multiple of 1/16 and
 *   every partial sum (at most 2^17 of them here) is exactly representable in float32, so the
 *   device must match the float64 reference exactly whatever its summation order or chunking.
 *   CONV_TOL = 1e-6 only forgives a device whose mad is less accurate; one missing or misplaced
 *   product (>= 1/16) exceeds it by two orders of magnitude.
 * - Pooling and batchnorm on continuous inputs: few-term float32 sums, errors below 1e-5;
 *   TOL = 1e-4.
 * - Finite differences: L = sum(r * y) for a random r, whose gradient the backward computes with
 *   dy = r. The two perturbed outputs are subtracted element by element before summing, so
 *   outputs the element does not reach cancel exactly. Convolution and average pooling are linear
 *   in each input, so any step is exact and 0.5 keeps the data on the 1/4 grid; max pooling uses
 *   inputs spaced 0.01 apart and a step of 0.003 that never changes a window's argmax; batchnorm
 *   (smooth) uses 0.05: the float32 rounding of the batch mean, divided by the step, is the
 *   larger error term, and the truncation error, O(h^2 / m), stays below it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"
#include "nn_ops.h"
#include "nn_rng.h"
#include "nn_test.h"
#include "ops_check.h"

#define NAN_BITS 0x7fc00000u  /* outputs start as NaN, so an element an op forgets to write fails */
#define CONV_TOL 1e-6
#define TOL 1e-4
#define FD_TOL 2e-3

static nn_cl *cl;
static nn_rng rng;

/* Keras 'same' padding along one dimension: out = ceil(in / stride), the rest at the end. */
static void same_pad(int in, int k, int stride, int *before, int *after) {
  int out = (in + stride - 1) / stride, total = (out - 1) * stride + k - in;
  if (total < 0) total = 0;
  *before = total / 2;
  *after = total - *before;
}

/* Multiples of 1/4 in [-1, 1], uploaded: exact float32 arithmetic for convolutions. */
static dev_array dev_quarters(int n) {
  dev_array a = dev_new(cl, n);
  for (int i = 0; i < n; i++) a.host[i] = (float)((int)nn_rng_below(&rng, 9) - 4) / 4;
  dev_upload(cl, &a);
  return a;
}

/* An output of n floats followed by GUARD floats that no op may write. The guard holds -0.0,
 * whose bits any store or addition of another value changes (NaN would survive a stray +=). */
#define GUARD 64
#define GUARD_BITS 0x80000000u
static dev_array dev_guarded(int n) {
  dev_array a = dev_new(cl, n + GUARD);
  a.n = n;
  CHECK_OK(nn_cl_fill(cl, &a.buf, (size_t)n * sizeof(float), GUARD * sizeof(float), GUARD_BITS));
  return a;
}

static void fill_nan(dev_array *a) { CHECK_OK(nn_cl_fill(cl, &a->buf, 0, (size_t)a->n * sizeof(float), NAN_BITS)); }

/* Whether the guard after an output still holds what dev_guarded wrote. */
static bool guard_intact(const dev_array *a) {
  uint32_t g[GUARD];
  CHECK_OK(nn_cl_read(cl, &a->buf, (size_t)a->n * sizeof(float), g, sizeof g));
  for (int i = 0; i < GUARD; i++)
    if (g[i] != GUARD_BITS) return false;
  return true;
}

/* Runs an op's forward with the current device inputs and reads its output into out. */
typedef void (*forward_fn)(void *ctx, float *out);

/* d(sum r * y) / d in[j] by central differences with step h; ny outputs. */
static double central_difference(forward_fn forward, void *ctx, dev_array *in, int j, double h, const float *r,
                                 int ny) {
  float *plus = malloc((size_t)ny * sizeof(float)), *minus = malloc((size_t)ny * sizeof(float));
  float keep = in->host[j], hi = (float)(keep + h), lo = (float)(keep - h);
  CHECK_OK(nn_cl_write(cl, &in->buf, (size_t)j * sizeof(float), &hi, sizeof(float)));
  forward(ctx, plus);
  CHECK_OK(nn_cl_write(cl, &in->buf, (size_t)j * sizeof(float), &lo, sizeof(float)));
  forward(ctx, minus);
  CHECK_OK(nn_cl_write(cl, &in->buf, (size_t)j * sizeof(float), &keep, sizeof(float)));
  double dot = 0;
  for (int i = 0; i < ny; i++) dot += (double)r[i] * ((double)plus[i] - (double)minus[i]);
  free(plus);
  free(minus);
  return dot / ((double)hi - (double)lo);
}

/* Checks `count` random elements (all when count >= in->n) of the gradient `grad` of input `in`
 * against central differences; returns the largest relative error. */
static double check_fd(const char *label, forward_fn forward, void *ctx, dev_array *in, const float *grad,
                       int count, double h, const float *r, int ny) {
  double worst = 0;
  for (int t = 0; t < (count < in->n ? count : in->n); t++) {
    int j = count < in->n ? (int)nn_rng_below(&rng, (uint32_t)in->n) : t;
    double fd = central_difference(forward, ctx, in, j, h, r, ny);
    double e = fabs(grad[j] - fd) / (1 + fabs(fd));
    CHECK(e <= FD_TOL, "%s: element %d: backward %.7g, finite difference %.7g", label, j, grad[j], fd);
    if (e > worst) worst = e;
  }
  return worst;
}

/* ---- convolution ---- */

/* y (n, oc, oh, ow) = conv(x, w) + b (b may be NULL), in float64. */
static void ref_conv(const nn_conv_shape *s, const float *x, const float *w, const float *b, double *y) {
  for (int i = 0; i < s->n; i++)
    for (int o = 0; o < s->oc; o++)
      for (int oy = 0; oy < s->out_h; oy++)
        for (int ox = 0; ox < s->out_w; ox++) {
          double acc = b ? b[o] : 0;
          for (int ci = 0; ci < s->c; ci++)
            for (int ky = 0; ky < s->kh; ky++)
              for (int kx = 0; kx < s->kw; kx++) {
                int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                acc += (double)x[((i * s->c + ci) * s->h + iy) * s->w + ix] *
                       w[((o * s->c + ci) * s->kh + ky) * s->kw + kx];
              }
          y[((i * s->oc + o) * s->out_h + oy) * s->out_w + ox] = acc;
        }
}

/* dx (n, c, h, w), dw (oc, c, kh, kw), db (oc) from dy (n, oc, oh, ow), in float64. */
static void ref_conv_backward(const nn_conv_shape *s, const float *x, const float *w, const float *dy, double *dx,
                              double *dw, double *db) {
  memset(dx, 0, sizeof(double) * (size_t)s->n * s->c * s->h * s->w);
  memset(dw, 0, sizeof(double) * (size_t)s->oc * s->c * s->kh * s->kw);
  memset(db, 0, sizeof(double) * (size_t)s->oc);
  for (int i = 0; i < s->n; i++)
    for (int o = 0; o < s->oc; o++)
      for (int oy = 0; oy < s->out_h; oy++)
        for (int ox = 0; ox < s->out_w; ox++) {
          double g = dy[((i * s->oc + o) * s->out_h + oy) * s->out_w + ox];
          db[o] += g;
          for (int ci = 0; ci < s->c; ci++)
            for (int ky = 0; ky < s->kh; ky++)
              for (int kx = 0; kx < s->kw; kx++) {
                int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                int xi = ((i * s->c + ci) * s->h + iy) * s->w + ix, wi = ((o * s->c + ci) * s->kh + ky) * s->kw + kx;
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
        }
}

typedef struct {
  const char *label;
  int n, c, h, w, oc, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right;
  bool bias;
  int fd;  /* elements of x and of w checked by finite differences (0: none) */
} conv_case;

typedef struct {
  const nn_conv_shape *s;
  dev_array *x, *w, *b, *y, *cols;
  nn_buffer *ws;
  const char *label;
} conv_ctx;

static size_t cols_floats(const nn_conv_shape *s) {
  size_t floats = 0;
  CHECK_OK(nn_conv_cols(cl, s, &floats, "cols"));
  return floats;
}

static size_t workspace_floats(const nn_conv_shape *s, nn_conv_part part) {
  size_t floats = 0;
  CHECK_OK(nn_conv_workspace(cl, s, part, &floats, "workspace"));
  return floats;
}

/* y from x as a graph computes it: the columns, then the product. */
static void conv_forward(void *p, float *out) {
  conv_ctx *c = p;
  CHECK_OK(nn_op_im2col(cl, c->s, c->x->buf.mem, c->cols->buf.mem, c->label));
  CHECK_OK(nn_op_conv2d(cl, c->s, c->cols->buf.mem, c->w->buf.mem, c->b ? c->b->buf.mem : NULL, false,
                        c->y->buf.mem, c->ws->mem, c->label));
  CHECK_OK(nn_cl_read(cl, &c->y->buf, 0, out, (size_t)c->y->n * sizeof(float)));
}

static void test_conv(conv_case cc) {
  nn_conv_shape s = {cc.n, cc.c, cc.h, cc.w, cc.oc, cc.kh, cc.kw, cc.stride_h, cc.stride_w,
                     cc.pad_top, cc.pad_left, cc.pad_bottom, cc.pad_right, 0, 0};
  CHECK_OK(nn_conv_shape_infer(&s, cc.label));
  int nx = s.n * s.c * s.h * s.w, nw = s.oc * s.c * s.kh * s.kw, ny = s.n * s.oc * s.out_h * s.out_w;
  dev_array x = dev_quarters(nx), w = dev_quarters(nw), b = dev_quarters(s.oc), dy = dev_quarters(ny);
  dev_array y = dev_guarded(ny), dx = dev_guarded(nx), dw = dev_guarded(nw), db = dev_guarded(s.oc);
  dev_array cols = dev_guarded((int)cols_floats(&s));
  nn_buffer ws;
  size_t ws_floats = 1;  /* one buffer, large enough for every part */
  for (nn_conv_part part = NN_CONV_FORWARD; part <= NN_CONV_GRAD_WEIGHT; part++)
    if (workspace_floats(&s, part) > ws_floats) ws_floats = workspace_floats(&s, part);
  CHECK_OK(nn_cl_alloc(cl, ws_floats * sizeof(float), "conv workspace", &ws));
  fill_nan(&y), fill_nan(&dx), fill_nan(&dw), fill_nan(&db), fill_nan(&cols);

  CHECK_OK(nn_op_im2col(cl, &s, x.buf.mem, cols.buf.mem, cc.label));
  CHECK_OK(
      nn_op_conv2d(cl, &s, cols.buf.mem, w.buf.mem, cc.bias ? b.buf.mem : NULL, false, y.buf.mem, ws.mem, cc.label));
  CHECK_OK(nn_op_conv2d_backward_input(cl, &s, dy.buf.mem, w.buf.mem, dx.buf.mem, ws.mem, cc.label));
  CHECK_OK(nn_op_conv2d_backward_weight(cl, &s, cols.buf.mem, dy.buf.mem, dw.buf.mem, cc.bias ? db.buf.mem : NULL,
                                        ws.mem, cc.label));
  dev_download(cl, &y), dev_download(cl, &dx), dev_download(cl, &dw), dev_download(cl, &db), dev_download(cl, &cols);
  CHECK(guard_intact(&y) && guard_intact(&dx) && guard_intact(&dw) && guard_intact(&db) && guard_intact(&cols),
        "%s: an op wrote past the end of its output", cc.label);
  bool cols_written = true;  /* im2col writes every element, zeros in the padding; so does oneDNN's reorder */
  for (int i = 0; i < cols.n; i++) cols_written = cols_written && !isnan(cols.host[i]);
  CHECK(cols_written, "%s: im2col left elements of cols unwritten", cc.label);

  double *ry = malloc(sizeof(double) * (size_t)ny), *rdx = malloc(sizeof(double) * (size_t)nx);
  double *rdw = malloc(sizeof(double) * (size_t)nw), *rdb = malloc(sizeof(double) * (size_t)s.oc);
  ref_conv(&s, x.host, w.host, cc.bias ? b.host : NULL, ry);
  ref_conv_backward(&s, x.host, w.host, dy.host, rdx, rdw, rdb);
  double ey = max_rel_error(y.host, ry, ny), edx = max_rel_error(dx.host, rdx, nx);
  double edw = max_rel_error(dw.host, rdw, nw), edb = cc.bias ? max_rel_error(db.host, rdb, s.oc) : 0;
  CHECK(ey <= CONV_TOL, "%s forward: max relative error %.3g", cc.label, ey);
  CHECK(edx <= CONV_TOL, "%s backward input: max relative error %.3g", cc.label, edx);
  CHECK(edw <= CONV_TOL, "%s backward weight: max relative error %.3g", cc.label, edw);
  CHECK(edb <= CONV_TOL, "%s backward bias: max relative error %.3g", cc.label, edb);
  /* The forward again with its ReLU applied in the output pass, as nn_plan fuses a conv layer's
   * activation. */
  CHECK_OK(nn_op_conv2d(cl, &s, cols.buf.mem, w.buf.mem, cc.bias ? b.buf.mem : NULL, true, y.buf.mem, ws.mem, cc.label));
  dev_download(cl, &y);
  double *ry_relu = malloc(sizeof(double) * (size_t)ny);
  int negative = 0;
  for (int i = 0; i < ny; i++) {
    ry_relu[i] = fmax(ry[i], 0);
    negative += ry[i] < 0;
  }
  double erelu = max_rel_error(y.host, ry_relu, ny);
  CHECK(erelu <= CONV_TOL && negative > 0, "%s forward with ReLU: max relative error %.3g (%d of %d negative before it)",
        cc.label, erelu, negative, ny);
  free(ry_relu);

  double fx = 0, fw = 0, fb = 0;
  if (cc.fd) {
    conv_ctx ctx = {&s, &x, &w, cc.bias ? &b : NULL, &y, &cols, &ws, cc.label};
    fx = check_fd(cc.label, conv_forward, &ctx, &x, dx.host, cc.fd, 0.5, dy.host, ny);
    fw = check_fd(cc.label, conv_forward, &ctx, &w, dw.host, cc.fd, 0.5, dy.host, ny);
    if (cc.bias) fb = check_fd(cc.label, conv_forward, &ctx, &b, db.host, cc.fd, 0.5, dy.host, ny);
  }
  printf("conv %-34s (%d,%d,%d,%d)->(%d,%d,%d,%d): y %.1e dx %.1e dw %.1e db %.1e | fd %.1e %.1e %.1e\n", cc.label,
         s.n, s.c, s.h, s.w, s.n, s.oc, s.out_h, s.out_w, ey, edx, edw, edb, fx, fw, fb);
  free(ry), free(rdx), free(rdw), free(rdb);
  nn_cl_free(cl, &ws);
  dev_free(cl, &x), dev_free(cl, &w), dev_free(cl, &b), dev_free(cl, &dy);
  dev_free(cl, &y), dev_free(cl, &dx), dev_free(cl, &dw), dev_free(cl, &db), dev_free(cl, &cols);
}

/* The report's CNN geometry: 4x4 kernels, Keras 'same', 28 -> 28 (stride 1) -> 14 -> 7 (stride 2). */
static conv_case same_case(const char *label, int n, int c, int hw, int oc, int k, int stride, int fd) {
  int before, after;
  same_pad(hw, k, stride, &before, &after);
  return (conv_case){label, n, c, hw, hw, oc, k, k, stride, stride, before, before, after, after, true, fd};
}

/* Every case on the engine NN_CONV selects; the chunking cases only where im2col runs. */
static void test_convs(const char *engine) {
  printf("-- convolutions, NN_CONV=%s\n", engine ? engine : "(unset)");
  if (engine) setenv("NN_CONV", engine, 1);
  else unsetenv("NN_CONV");
  /* The report's layers; 7 -> 4 pads 1 above and 2 below. */
  test_conv(same_case("4x4 s1 same 28x28 (CNN-1 conv1)", 2, 1, 28, 4, 4, 1, 6));
  test_conv(same_case("4x4 s2 same 28x28 (CNN-1 conv2)", 2, 3, 28, 5, 4, 2, 6));
  test_conv(same_case("4x4 s2 same 14x14 (CNN-1 conv3)", 2, 4, 14, 6, 4, 2, 6));
  test_conv(same_case("4x4 s2 same 7x7 (CNN-5 conv4)", 3, 5, 7, 4, 4, 2, 6));
  test_conv(same_case("3x3 s1 same 28x28 (multi-task)", 2, 3, 28, 4, 3, 1, 6));
  /* At the report's channel counts (16 and more: oneDNN's blocked layouts). */
  test_conv(same_case("CNN-1 conv2 channels, n=3 32->64", 3, 32, 28, 64, 4, 2, 4));
  test_conv(same_case("CNN-1 conv3 channels, n=2 64->128", 2, 64, 14, 128, 4, 2, 4));
  test_conv(same_case("20 -> 24 channels (partial blocks)", 2, 20, 9, 24, 3, 2, 4));
  if (!engine || strcmp(engine, "im2col") == 0) {
    /* Several GEMM chunks with a partial last one, at the report's channel counts. */
    nn_conv_shape big = {40, 32, 28, 28, 64, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0};
    CHECK_OK(nn_conv_shape_infer(&big, "big"));
    bool im2col = engine != NULL;
    CHECK(!im2col || workspace_floats(&big, NN_CONV_GRAD_INPUT) < (size_t)big.n * (32 * 16 + 64) * 14 * 14,
          "the workspace holds the whole batch, so chunking goes untested");
    test_conv((conv_case){"several chunks, n=40 32->64 28x28 s2", 40, 32, 28, 28, 64, 4, 4, 2, 2, 1, 1, 1, 1, true, 0});
    /* The forward product and the weight gradient chunk by their (oc, ohw) side alone: 256 channels
     * of 30x30 outputs make chunks of 18 images, so 24 images take a full and a partial one. */
    nn_conv_shape wide = {24, 2, 60, 60, 256, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0};
    CHECK_OK(nn_conv_shape_infer(&wide, "wide"));
    CHECK(!im2col || (workspace_floats(&wide, NN_CONV_FORWARD) < (size_t)wide.n * 256 * 30 * 30 &&
                      workspace_floats(&wide, NN_CONV_GRAD_WEIGHT) < (size_t)wide.n * 256 * 30 * 30),
          "the forward workspace holds the whole batch, so its chunking goes untested");
    test_conv(same_case("forward chunks, n=24 2->256 60x60 s2", 24, 2, 60, 256, 4, 2, 4));
  }
  /* Odd geometry. */
  test_conv((conv_case){"5x5 s2 pad 2 (kernel > stride)", 2, 2, 9, 9, 3, 5, 5, 2, 2, 2, 2, 2, 2, true, 6});
  test_conv((conv_case){"3x2 s(2,1) asymmetric pads 5x9", 2, 3, 5, 9, 4, 3, 2, 2, 1, 0, 1, 2, 0, true, 6});
  test_conv((conv_case){"1 channel, batch 1, no bias", 1, 1, 6, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, false, 6});
  test_conv((conv_case){"1x1 s1", 3, 5, 4, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, true, 6});
  test_conv((conv_case){"1x1 s2 (untouched pixels)", 2, 3, 5, 5, 2, 1, 1, 2, 2, 0, 0, 0, 0, true, 6});
  test_conv((conv_case){"2x2 s3 (gaps between windows)", 2, 2, 8, 7, 3, 2, 2, 3, 3, 0, 1, 1, 0, true, 6});
  test_conv((conv_case){"window = padded input", 2, 2, 3, 4, 3, 5, 4, 1, 1, 1, 0, 1, 0, true, 6});
  test_conv((conv_case){"pad >= window (all-padding windows)", 1, 2, 4, 4, 2, 2, 2, 1, 1, 3, 2, 2, 3, true, 6});
  /* Window columns that only ever see the right/bottom padding. */
  test_conv((conv_case){"4x4 on 3x2, pads only bottom/right", 2, 2, 3, 2, 3, 4, 4, 1, 1, 0, 0, 2, 3, true, 6});
  test_conv((conv_case){"4x4 s2 on 5x3, pads only bottom/right", 2, 2, 5, 3, 2, 4, 4, 2, 2, 0, 0, 3, 3, true, 6});
}

/* Which engine the default gives CNN-1's second layer: oneDNN's, whose prepared input is x itself
 * (nn_conv_cols), on a CPU device whose GEMMs run on oneDNN; im2col's columns elsewhere. A bad
 * NN_CONV is an error that names it. */
static void test_conv_engines(void) {
  nn_conv_shape s = {128, 32, 28, 28, 64, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0};
  CHECK_OK(nn_conv_shape_infer(&s, "conv2"));
  size_t columns = (size_t)32 * 16 * 128 * 14 * 14, input = (size_t)128 * 32 * 28 * 28;
  unsetenv("NN_CONV");
  bool onednn = nn_cl_runs_host(cl) && strcmp(nn_gemm_engine(cl), "oneDNN (native kernel)") == 0;
  size_t got = cols_floats(&s);
  CHECK(got == (onednn ? input : columns), "CNN-1 conv2 by default: cols of %zu floats, want %zu (%s)", got,
        onednn ? input : columns, onednn ? "oneDNN" : "im2col");
  printf("CNN-1 conv2 runs on %s by default\n", onednn ? "oneDNN" : "im2col + GEMM");
  setenv("NN_CONV", "im2col", 1);
  CHECK(cols_floats(&s) == columns, "NN_CONV=im2col: cols of %zu floats", cols_floats(&s));
  setenv("NN_CONV", "mkldnn", 1);
  size_t floats;
  CHECK(nn_conv_cols(cl, &s, &floats, "conv2d 'c2' (cnn.lua:7)") != 0 &&
            strcmp(nn_error(), "conv2d 'c2' (cnn.lua:7): NN_CONV='mkldnn': use onednn, im2col, or leave it unset") == 0,
        "message: %s", nn_error());
  unsetenv("NN_CONV");
}

static void test_shape_errors(void) {
  nn_conv_shape s = {1, 1, 3, 3, 1, 5, 5, 1, 1, 0, 0, 0, 0, 0, 0};
  CHECK(nn_conv_shape_infer(&s, "conv2d 'c1' (cnn.lua:5)") != 0, "5x5 on 3x3 accepted");
  CHECK(strcmp(nn_error(), "conv2d 'c1' (cnn.lua:5): 5x5 window is larger than the padded 3x3 input") == 0,
        "message: %s", nn_error());
  s.pad_top = s.pad_bottom = 1; /* padded 5x3: the width still fails */
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "padded 5x3") != NULL, "message: %s", nn_error());
  s.pad_left = s.pad_right = 1;
  CHECK_OK(nn_conv_shape_infer(&s, "c"));
  CHECK(s.out_h == 1 && s.out_w == 1, "padded 5x5 with a 5x5 window: %dx%d", s.out_h, s.out_w);

  nn_conv_shape base = {2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0};
  s = base, s.stride_w = 0;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "stride 1x0") != NULL, "message: %s", nn_error());
  s = base, s.stride_h = -2;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "stride -2x1") != NULL, "message: %s", nn_error());
  s = base, s.pad_right = -1;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "negative padding") != NULL, "message: %s",
        nn_error());
  s = base, s.h = 0;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "(2, 3, 0, 8)") != NULL, "message: %s", nn_error());
  s = base, s.kw = 0;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "window 3x0") != NULL, "message: %s", nn_error());
  s = base, s.n = -1;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "positive") != NULL, "message: %s", nn_error());
  s = base, s.n = 1 << 16, s.c = 1 << 16;
  CHECK(nn_conv_shape_infer(&s, "c") != 0 && strstr(nn_error(), "2^31") != NULL, "message: %s", nn_error());

  /* The report's chain: 28 -> 28 -> 14 -> 7 -> 4 -> 2 with 4x4 'same'. */
  int sizes[] = {28, 28, 14, 7, 4, 2}, strides[] = {1, 2, 2, 2, 2};
  for (int i = 0; i < 5; i++) {
    s = (nn_conv_shape){128, 1, sizes[i], sizes[i], 1, 4, 4, strides[i], strides[i], 0, 0, 0, 0, 0, 0};
    same_pad(sizes[i], 4, strides[i], &s.pad_top, &s.pad_bottom);
    same_pad(sizes[i], 4, strides[i], &s.pad_left, &s.pad_right);
    CHECK_OK(nn_conv_shape_infer(&s, "same"));
    CHECK(s.out_h == sizes[i + 1] && s.out_w == sizes[i + 1], "%d -> %d, want %d", sizes[i], s.out_h, sizes[i + 1]);
  }

  /* The ops refuse a shape whose output size was not inferred, and a short workspace. */
  s = base;
  CHECK_OK(nn_conv_shape_infer(&s, "c"));
  nn_buffer small;
  CHECK_OK(nn_cl_alloc(cl, 64, "small", &small));
  CHECK(nn_op_conv2d(cl, &s, small.mem, small.mem, NULL, false, small.mem, small.mem, "conv2d 'c'") != 0 &&
            strstr(nn_error(), "workspace of 64 bytes") != NULL,
        "message: %s", nn_error());
  CHECK(nn_op_im2col(cl, &s, small.mem, small.mem, "conv2d 'c'") != 0 &&
            strstr(nn_error(), "cols of 64 bytes, the convolution's columns need") != NULL,
        "message: %s", nn_error());
  s.out_w++;
  CHECK(nn_op_pool2d(cl, &s, true, small.mem, small.mem, "pool 'p'") != 0 &&
            strstr(nn_error(), "shape says 8x9 output, the geometry gives 8x8") != NULL,
        "message: %s", nn_error());
  nn_cl_free(cl, &small);
}

/* ---- pooling ---- */

/* y (n, c, oh, ow), and dx from dy, in float64: max routes to the first maximum, average divides
 * by the pixels inside the image; a window with no pixel gives 0. */
static void ref_pool(const nn_conv_shape *s, bool max, const float *x, const float *dy, double *y, double *dx) {
  memset(dx, 0, sizeof(double) * (size_t)s->n * s->c * s->h * s->w);
  for (int p = 0; p < s->n * s->c; p++)
    for (int oy = 0; oy < s->out_h; oy++)
      for (int ox = 0; ox < s->out_w; ox++) {
        int o = (p * s->out_h + oy) * s->out_w + ox, best = -1, count = 0;
        double acc = 0;
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++) {
            int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
            int i = (p * s->h + iy) * s->w + ix;
            count++;
            acc += x[i];
            if (best < 0 || x[i] > x[best]) best = i;
          }
        y[o] = count == 0 ? 0 : max ? x[best] : acc / count;
        if (count == 0) continue;
        if (max) {
          dx[best] += dy[o];
          continue;
        }
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++) {
            int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
            if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w) dx[(p * s->h + iy) * s->w + ix] += dy[o] / count;
          }
      }
}

typedef struct {
  const nn_conv_shape *s;
  bool max;
  dev_array *x, *y;
  const char *label;
} pool_ctx;

static void pool_forward(void *p, float *out) {
  pool_ctx *c = p;
  CHECK_OK(nn_op_pool2d(cl, c->s, c->max, c->x->buf.mem, c->y->buf.mem, c->label));
  CHECK_OK(nn_cl_read(cl, &c->y->buf, 0, out, (size_t)c->y->n * sizeof(float)));
}

/* Inputs: "random" in [-1, 1); "spaced": distinct values 0.01 apart, shuffled (finite differences
 * of max); "negative" in [-2, -1) (padding must not win a max); "constant" (ties). */
typedef enum { POOL_RANDOM, POOL_SPACED, POOL_NEGATIVE, POOL_CONSTANT } pool_input;

static void test_pool(const char *label, bool max, pool_input input, int n, int c, int h, int w, int kh, int kw,
                      int sh, int sw, int pt, int pl, int pb, int pr) {
  nn_conv_shape s = {n, c, h, w, 0, kh, kw, sh, sw, pt, pl, pb, pr, 0, 0};
  CHECK_OK(nn_conv_shape_infer(&s, label));
  int nx = n * c * h * w, ny = n * c * s.out_h * s.out_w;
  dev_array x = dev_new(cl, nx), y = dev_guarded(ny), dx = dev_guarded(nx);
  dev_array dy = dev_random(cl, &rng, ny, -1, 1);
  int32_t *perm = malloc(sizeof(int32_t) * (size_t)nx);
  for (int i = 0; i < nx; i++) perm[i] = i;
  nn_rng_shuffle(&rng, perm, (size_t)nx);
  for (int i = 0; i < nx; i++) {
    double u = nn_rng_uniform(&rng);
    x.host[i] = (float)(input == POOL_RANDOM     ? 2 * u - 1
                        : input == POOL_SPACED   ? 0.01 * (perm[i] - nx / 2)
                        : input == POOL_NEGATIVE ? -1 - u
                                                 : 0.5);
  }
  free(perm);
  dev_upload(cl, &x);
  fill_nan(&y), fill_nan(&dx);
  CHECK_OK(nn_op_pool2d(cl, &s, max, x.buf.mem, y.buf.mem, label));
  CHECK_OK(nn_op_pool2d_backward(cl, &s, max, x.buf.mem, y.buf.mem, dy.buf.mem, dx.buf.mem, label));
  dev_download(cl, &y), dev_download(cl, &dx);
  CHECK(guard_intact(&y) && guard_intact(&dx), "%s: an op wrote past the end of its output", label);
  double *ry = malloc(sizeof(double) * (size_t)ny), *rdx = malloc(sizeof(double) * (size_t)nx);
  ref_pool(&s, max, x.host, dy.host, ry, rdx);
  double ey = max_rel_error(y.host, ry, ny), edx = max_rel_error(dx.host, rdx, nx), efd = 0;
  CHECK(ey <= TOL, "%s forward: max relative error %.3g", label, ey);
  CHECK(edx <= TOL, "%s backward: max relative error %.3g", label, edx);
  if (input != POOL_CONSTANT && (!max || input == POOL_SPACED)) {
    pool_ctx ctx = {&s, max, &x, &y, label};
    efd = check_fd(label, pool_forward, &ctx, &x, dx.host, 12, max ? 0.003 : 0.5, dy.host, ny);
  }
  printf("pool %-34s (%d,%d,%d,%d)->(%d,%d): y %.1e dx %.1e | fd %.1e\n", label, n, c, h, w, s.out_h, s.out_w, ey,
         edx, efd);
  free(ry), free(rdx);
  dev_free(cl, &x), dev_free(cl, &y), dev_free(cl, &dx), dev_free(cl, &dy);
}

static void test_pools(void) {
  test_pool("max 2x2 s2 28x28 (multi-task)", true, POOL_RANDOM, 2, 3, 28, 28, 2, 2, 2, 2, 0, 0, 0, 0);
  test_pool("max 2x2 s2 7x7 (drops a row)", true, POOL_SPACED, 2, 2, 7, 7, 2, 2, 2, 2, 0, 0, 0, 0);
  test_pool("max 2x2 s2 7x7 'same'", true, POOL_NEGATIVE, 2, 2, 7, 7, 2, 2, 2, 2, 0, 0, 1, 1);
  test_pool("max 3x3 s2 pad 1 (overlapping)", true, POOL_SPACED, 2, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1);
  test_pool("max 3x3 s1 pad 1 negative", true, POOL_NEGATIVE, 1, 2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1);
  test_pool("max 3x3 s1 pad 1 ties", true, POOL_CONSTANT, 1, 2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1);
  test_pool("max 3x2 s(1,2) asymmetric 6x9", true, POOL_SPACED, 2, 3, 6, 9, 3, 2, 1, 2, 0, 1, 2, 0);
  test_pool("avg 2x2 s2 28x28", false, POOL_RANDOM, 2, 3, 28, 28, 2, 2, 2, 2, 0, 0, 0, 0);
  test_pool("avg 3x3 s1 pad 1 (count excludes pad)", false, POOL_RANDOM, 2, 2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1);
  test_pool("avg 3x2 s(2,1) asymmetric 7x5", false, POOL_RANDOM, 1, 1, 7, 5, 3, 2, 2, 1, 2, 0, 1, 1);
  test_pool("avg 4x4 s3 pad 2 9x9", false, POOL_RANDOM, 2, 2, 9, 9, 4, 4, 3, 3, 2, 2, 2, 2);
  test_pool("max 2x2 s2 ties (disjoint)", true, POOL_CONSTANT, 1, 2, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0);
  test_pool("max 2x2 s3 (gaps between windows)", true, POOL_SPACED, 2, 2, 8, 7, 2, 2, 3, 3, 0, 0, 0, 0);
  test_pool("avg 2x1 s(2,3) pad (disjoint, gaps)", false, POOL_RANDOM, 1, 3, 7, 8, 2, 1, 2, 3, 1, 1, 0, 1);
  test_pool("max pad >= window (empty windows)", true, POOL_SPACED, 1, 2, 4, 4, 2, 2, 1, 1, 2, 0, 0, 2);
  test_pool("avg pad >= window (empty windows)", false, POOL_RANDOM, 1, 2, 4, 4, 2, 2, 1, 1, 2, 0, 0, 2);
}

/* ---- batch normalisation ---- */

/* y, mean, var (biased) per channel of x (n, c, hw) in training mode, in float64. */
static void ref_bn(const float *x, const float *gamma, const float *beta, int n, int c, int hw, double eps, double *y,
                   double *mean, double *var) {
  for (int ch = 0; ch < c; ch++) {
    double s = 0, q = 0, m = (double)n * hw;
    for (int b = 0; b < n; b++)
      for (int i = 0; i < hw; i++) s += x[(b * c + ch) * hw + i];
    mean[ch] = s / m;
    for (int b = 0; b < n; b++)
      for (int i = 0; i < hw; i++) q += pow(x[(b * c + ch) * hw + i] - mean[ch], 2);
    var[ch] = q / m;
    for (int b = 0; b < n; b++)
      for (int i = 0; i < hw; i++) {
        int at = (b * c + ch) * hw + i;
        y[at] = gamma[ch] * (x[at] - mean[ch]) / sqrt(var[ch] + eps) + beta[ch];
      }
  }
}

/* Training-mode backward in float64, written from the chain rule through mean and var rather
 * than the kernel's folded form. */
static void ref_bn_backward(const float *x, const float *dy, const float *gamma, int n, int c, int hw, double eps,
                            double *dx, double *dgamma, double *dbeta) {
  double *y = malloc(sizeof(double) * (size_t)n * c * hw), *mean = malloc(sizeof(double) * (size_t)c);
  double *var = malloc(sizeof(double) * (size_t)c);
  float *ones = malloc(sizeof(float) * (size_t)c), *zeros = calloc((size_t)c, sizeof(float));
  for (int ch = 0; ch < c; ch++) ones[ch] = 1;
  ref_bn(x, ones, zeros, n, c, hw, eps, y, mean, var);  /* y = xhat */
  double m = (double)n * hw;
  for (int ch = 0; ch < c; ch++) {
    double is = 1 / sqrt(var[ch] + eps), dvar = 0, dmean = 0;
    dgamma[ch] = dbeta[ch] = 0;
    for (int b = 0; b < n; b++)
      for (int i = 0; i < hw; i++) {
        int at = (b * c + ch) * hw + i;
        dgamma[ch] += dy[at] * y[at];
        dbeta[ch] += dy[at];
        double dxhat = dy[at] * gamma[ch];
        dvar += dxhat * (x[at] - mean[ch]) * -0.5 * pow(is, 3);
        dmean += -dxhat * is;
      }
    for (int b = 0; b < n; b++)
      for (int i = 0; i < hw; i++) {
        int at = (b * c + ch) * hw + i;
        dx[at] = dy[at] * gamma[ch] * is + dvar * 2 * (x[at] - mean[ch]) / m + dmean / m;
      }
  }
  free(y), free(mean), free(var), free(ones), free(zeros);
}

typedef struct {
  dev_array *x, *y, *gamma, *beta, *rmean, *rvar, *stats;
  int n, c, hw;
  float eps;
  bool training;
} bn_ctx;

static void bn_forward(void *p, float *out) {
  bn_ctx *b = p;
  CHECK_OK(nn_op_batchnorm_stats(cl, b->x->buf.mem, b->rmean->buf.mem, b->rvar->buf.mem, b->stats->buf.mem, b->n, b->c,
                                 b->hw, b->eps, 0.9f, b->training, "bn"));
  CHECK_OK(nn_op_batchnorm(cl, b->x->buf.mem, b->stats->buf.mem, b->gamma->buf.mem, b->beta->buf.mem, b->y->buf.mem,
                           b->n, b->c, b->hw, "bn"));
  CHECK_OK(nn_cl_read(cl, &b->y->buf, 0, out, (size_t)b->y->n * sizeof(float)));
}

/* The backward of the mode in ctx (stats as its forward left them) into sums and dx, downloaded,
 * then every gradient against finite differences of that forward; returns the worst of the three.
 * The device's sums and dx stay; its stats do not (the last forward saw a perturbed input). */
static double bn_backward_fd(bn_ctx *ctx, dev_array *dy, dev_array *sums, dev_array *dx, const char *label) {
  CHECK_OK(nn_op_batchnorm_sums(cl, ctx->x->buf.mem, dy->buf.mem, ctx->stats->buf.mem, sums->buf.mem, ctx->n, ctx->c,
                                ctx->hw, label));
  CHECK_OK(nn_op_batchnorm_backward(cl, ctx->x->buf.mem, dy->buf.mem, ctx->gamma->buf.mem, ctx->stats->buf.mem,
                                    sums->buf.mem, dx->buf.mem, ctx->n, ctx->c, ctx->hw, ctx->training, label));
  dev_download(cl, sums), dev_download(cl, dx);
  int nx = ctx->n * ctx->c * ctx->hw;
  double fx = check_fd(label, bn_forward, ctx, ctx->x, dx->host, 12, 0.05, dy->host, nx);
  double fg = check_fd(label, bn_forward, ctx, ctx->gamma, sums->host, 4, 0.05, dy->host, nx);
  double fb = check_fd(label, bn_forward, ctx, ctx->beta, sums->host + ctx->c, 4, 0.05, dy->host, nx);
  return fmax(fx, fmax(fg, fb));
}

static void test_bn(const char *label, int n, int c, int hw, double offset) {
  int nx = n * c * hw;
  float eps = 1e-3f, momentum = 0.9f;
  dev_array x = dev_random(cl, &rng, nx, offset - 1, offset + 1), dy = dev_random(cl, &rng, nx, -1, 1);
  dev_array gamma = dev_random(cl, &rng, c, 0.5, 1.5), beta = dev_random(cl, &rng, c, -1, 1);
  dev_array rmean = dev_random(cl, &rng, c, -1, 1), rvar = dev_random(cl, &rng, c, 0.5, 2);
  dev_array y = dev_guarded(nx), dx = dev_guarded(nx), stats = dev_guarded(2 * c), sums = dev_guarded(2 * c);
  dev_array row = dev_guarded(c);
  fill_nan(&y), fill_nan(&dx), fill_nan(&stats), fill_nan(&sums), fill_nan(&row);
  float *rm0 = malloc(sizeof(float) * (size_t)c), *rv0 = malloc(sizeof(float) * (size_t)c);
  memcpy(rm0, rmean.host, sizeof(float) * (size_t)c);
  memcpy(rv0, rvar.host, sizeof(float) * (size_t)c);
  double *ry = malloc(sizeof(double) * (size_t)nx), *rdx = malloc(sizeof(double) * (size_t)nx);
  double *rmu = malloc(sizeof(double) * (size_t)c), *rv = malloc(sizeof(double) * (size_t)c);
  double *want = malloc(sizeof(double) * 2 * (size_t)c), *rdg = malloc(sizeof(double) * (size_t)c);
  double *rdb = malloc(sizeof(double) * (size_t)c);
  bn_ctx ctx = {&x, &y, &gamma, &beta, &rmean, &rvar, &stats, n, c, hw, eps, false};

  /* Evaluation: the running statistics, which stay as they are; the backward treats them as
   * constants, dx = gamma * invstd * dy. */
  CHECK_OK(nn_op_batchnorm_stats(cl, x.buf.mem, rmean.buf.mem, rvar.buf.mem, stats.buf.mem, n, c, hw, eps, momentum,
                                 false, label));
  CHECK_OK(nn_op_batchnorm(cl, x.buf.mem, stats.buf.mem, gamma.buf.mem, beta.buf.mem, y.buf.mem, n, c, hw, label));
  dev_download(cl, &y), dev_download(cl, &rmean), dev_download(cl, &rvar), dev_download(cl, &stats);
  for (int ch = 0; ch < c; ch++) want[ch] = rm0[ch], want[c + ch] = 1 / sqrt(rv0[ch] + (double)eps);
  double estats = max_rel_error(stats.host, want, 2 * c);
  for (int i = 0; i < nx; i++) {
    int ch = (i / hw) % c;
    ry[i] = gamma.host[ch] * (x.host[i] - (double)rm0[ch]) * want[c + ch] + beta.host[ch];
  }
  double eeval = max_rel_error(y.host, ry, nx);
  CHECK(eeval <= TOL && estats <= TOL, "%s eval forward: y %.3g stats %.3g", label, eeval, estats);
  CHECK(memcmp(rmean.host, rm0, sizeof(float) * (size_t)c) == 0 && memcmp(rvar.host, rv0, sizeof(float) * (size_t)c) == 0,
        "%s: evaluation changed the running statistics", label);
  double feval = bn_backward_fd(&ctx, &dy, &sums, &dx, label);
  for (int i = 0; i < nx; i++) {
    int ch = (i / hw) % c;
    rdx[i] = gamma.host[ch] * want[c + ch] * dy.host[i];
  }
  double edx_eval = max_rel_error(dx.host, rdx, nx);
  CHECK(edx_eval <= TOL, "%s eval backward: dx %.3g", label, edx_eval);

  /* Training: batch statistics, folded into the running ones. */
  fill_nan(&y), fill_nan(&stats), fill_nan(&sums), fill_nan(&dx);
  ctx.training = true;
  CHECK_OK(nn_op_batchnorm_stats(cl, x.buf.mem, rmean.buf.mem, rvar.buf.mem, stats.buf.mem, n, c, hw, eps, momentum,
                                 true, label));
  CHECK_OK(nn_op_batchnorm(cl, x.buf.mem, stats.buf.mem, gamma.buf.mem, beta.buf.mem, y.buf.mem, n, c, hw, label));
  dev_download(cl, &y), dev_download(cl, &rmean), dev_download(cl, &rvar), dev_download(cl, &stats);
  ref_bn(x.host, gamma.host, beta.host, n, c, hw, eps, ry, rmu, rv);
  for (int ch = 0; ch < c; ch++) want[ch] = rmu[ch], want[c + ch] = 1 / sqrt(rv[ch] + eps);
  double ey = max_rel_error(y.host, ry, nx), estats_train = max_rel_error(stats.host, want, 2 * c);
  for (int ch = 0; ch < c; ch++) want[ch] = momentum * (double)rm0[ch] + (1 - momentum) * rmu[ch];
  double erm = max_rel_error(rmean.host, want, c);
  for (int ch = 0; ch < c; ch++) want[ch] = momentum * (double)rv0[ch] + (1 - momentum) * rv[ch];
  double erv = max_rel_error(rvar.host, want, c);
  CHECK(ey <= TOL && estats_train <= TOL, "%s train forward: y %.3g stats %.3g", label, ey, estats_train);
  CHECK(erm <= TOL && erv <= TOL, "%s running statistics: mean %.3g var %.3g", label, erm, erv);

  double ftrain = bn_backward_fd(&ctx, &dy, &sums, &dx, label);
  CHECK_OK(nn_op_slice(cl, sums.buf.mem, c, row.buf.mem, c, label));
  dev_download(cl, &row);
  ref_bn_backward(x.host, dy.host, gamma.host, n, c, hw, eps, rdx, rdg, rdb);
  double edx = max_rel_error(dx.host, rdx, nx), edg = max_rel_error(sums.host, rdg, c);
  double edb = max_rel_error(sums.host + c, rdb, c);
  CHECK(edx <= TOL && edg <= TOL && edb <= TOL, "%s backward: dx %.3g dgamma %.3g dbeta %.3g", label, edx, edg, edb);
  CHECK(memcmp(row.host, sums.host + c, sizeof(float) * (size_t)c) == 0, "%s: slice of the sums' second row", label);
  CHECK(guard_intact(&y) && guard_intact(&dx) && guard_intact(&stats) && guard_intact(&sums) && guard_intact(&row),
        "%s: an op wrote past the end of its output", label);
  printf("batchnorm %-29s (%d,%d,%d): eval y %.1e stats %.1e dx %.1e fd %.1e | train y %.1e stats %.1e running "
         "%.1e %.1e | dx %.1e dgamma %.1e dbeta %.1e | fd %.1e\n",
         label, n, c, hw, eeval, estats, edx_eval, feval, ey, estats_train, erm, erv, edx, edg, edb, ftrain);
  free(rm0), free(rv0), free(ry), free(rdx), free(rmu), free(rv), free(want), free(rdg), free(rdb);
  dev_array *all[] = {&x, &dy, &gamma, &beta, &rmean, &rvar, &y, &dx, &stats, &sums, &row};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dev_free(cl, all[i]);
}

static void test_bns(void) {
  test_bn("small", 4, 3, 25, 0);
  test_bn("single channel, batch 1", 1, 1, 7, 0.5);
  test_bn("dense (hw = 1)", 16, 5, 1, 0);
  test_bn("mean 30 (two-pass variance)", 8, 4, 49, 30);
  test_bn("CNN-sized channel (n*hw = 12544)", 64, 2, 196, 0);
}

int main(void) {
  if (nn_cl_open(&cl, nn_env("NN_DEVICE"), false) != 0) {
    CHECK(0, "open device: %s", nn_error());
    return nn_test_done();
  }
  nn_rng_seed(&rng, 20240605);
  test_shape_errors();
  test_conv_engines();
  test_convs("im2col");
  test_convs(NULL);
  test_pools();
  test_bns();
  nn_cl_close(cl);
  return nn_test_done();
}
