/* Convolution, pooling and batch normalisation (nn_ops.h), with kernels in cl/conv.cl,
 * cl/pool.cl and cl/batchnorm.cl.
 *
 * Convolution is im2col + GEMM. The input is unrolled once into cols (K, n * ohw), K = c * kh * kw
 * (nn_op_im2col, a node of its own in graphs), which both the forward product and the weight
 * gradient read, so a training step unrolls each input once. The GEMMs run over chunks of images:
 * one nn_gemm covers a chunk with N = chunk * ohw instead of one small GEMM per image (ohw is 49
 * for the report's last conv layers, far below the GEMM's tile sizes), and its result
 * (oc, chunk * ohw) is reordered to NCHW while it is in the cache. The input gradient makes its
 * columns chunk by chunk (cols = W^T x dy, then col2im). A chunk is as many images as fit in
 * CONV_ROWS_FLOATS (forward, weight gradient) or CONV_WORKSPACE_FLOATS (input gradient), so the
 * workspace stays bounded whatever n is.
 *
 * On CPU devices whose GEMMs run on oneDNN, a part runs instead on oneDNN's direct convolution
 * where it has a real kernel for it (nn_ops_onednn.c): then the graph's im2col node holds the input
 * in oneDNN's layout, not the columns. NN_CONV=im2col keeps every part on im2col + GEMM, for
 * comparison; NN_CONV=onednn asks for oneDNN even where the GEMMs use another engine. */
#include "nn_ops.h"

#include <limits.h>
#include <stdint.h>
#include <strings.h>

#include "nn_base.h"
#include "nn_gemm.h"
#include "nn_ops_onednn.h"

/* Workspace the input gradient aims for: 8 MB, so that a chunk's columns stay in the CPU's 32 MB
 * last-level cache between the GEMM that writes them and col2im, next to the GEMM's own packing.
 * CNN-1's last two layers at n=128 then run in chunks of 18 and 37 images; timing them with 1 to
 * 16 M floats (on a loaded 2-core machine) found no size faster than this one. */
#define CONV_WORKSPACE_FLOATS ((size_t)2 << 20)
/* The forward product and the weight gradient need only the GEMM's (oc, chunk * ohw) side in the
 * workspace (the columns are a node of their own), and they gain from large GEMMs: OpenBLAS on
 * CNN-1's second layer ran 64x25088x512 at 1.6x and 64x512x25088 at 2.2x the rate of the 18-image
 * chunks. 16 MB holds the whole batch of 128 for every layer of the report's CNNs. */
#define CONV_ROWS_FLOATS ((size_t)4 << 20)

/* Work-items per work-group of the per-channel reductions: 256, or the device's largest
 * power-of-two work-group if smaller (the kernels' trees need a power of two). */
static size_t reduce_local(nn_cl *cl) {
  size_t local = 256;
  while (local > nn_cl_device(cl)->max_work_group) local /= 2;
  return local;
}

/* ---- which engine runs a part ---- */

/* Whether convolutions may run on oneDNN: 1 yes, 0 no, -1 a bad NN_CONV. */
static int onednn_allowed(nn_cl *cl, const char *what) {
  const char *want = nn_env("NN_CONV");
  if (!want) return nn_cl_runs_host(cl) && nn_gemm_is_onednn(cl);
  if (strcasecmp(want, "im2col") == 0) return 0;
  if (strcasecmp(want, "onednn") != 0)
    return nn_fail("%s: NN_CONV='%s': use onednn, im2col, or leave it unset", what, want);
  if (!nn_cl_runs_host(cl))
    return nn_fail("%s: NN_CONV=onednn, but %s cannot run host functions in its queue (not a CPU device with "
                   "native kernels); use NN_CONV=im2col or leave it unset", what, nn_cl_device(cl)->name);
  return 1;
}

/* The forward (with a bias, without ReLU) that prepares s's input for oneDNN, or *out = NULL if
 * the input is unrolled into columns: the preparation serves the forward and the weight gradient,
 * so both must run on oneDNN, reading one layout. */
static int onednn_input(nn_cl *cl, const nn_conv_shape *s, const nn_onednn_conv **out, const char *what) {
  *out = NULL;
  int allowed = onednn_allowed(cl, what);
  if (allowed <= 0) return allowed;
  const nn_onednn_conv *fwd, *bwd_w;
  if (nn_onednn_conv_get(&(nn_onednn_key){*s, NN_CONV_FORWARD, true, false}, &fwd, what) != 0 ||
      nn_onednn_conv_get(&(nn_onednn_key){*s, NN_CONV_GRAD_WEIGHT, false, false}, &bwd_w, what) != 0)
    return -1;
  if (fwd && bwd_w && nn_onednn_same_source(fwd, bwd_w)) *out = fwd;
  return 0;
}

/* The oneDNN part that runs `part` of s, or *out = NULL for im2col + GEMM. */
static int onednn_part(nn_cl *cl, const nn_conv_shape *s, nn_conv_part part, bool bias, bool relu,
                       const nn_onednn_conv **out, const char *what) {
  *out = NULL;
  if (part == NN_CONV_GRAD_INPUT) {
    int allowed = onednn_allowed(cl, what);
    if (allowed <= 0) return allowed;
    return nn_onednn_conv_get(&(nn_onednn_key){*s, part, false, false}, out, what);
  }
  const nn_onednn_conv *input;
  if (onednn_input(cl, s, &input, what) != 0) return -1;
  if (!input) return 0;
  if (nn_onednn_conv_get(&(nn_onednn_key){*s, part, bias, relu}, out, what) != 0) return -1;
  if (!*out || !nn_onednn_same_source(*out, input))
    return nn_fail("%s: oneDNN's forward with%s bias%s has no direct kernel on the layout of the others; "
                   "NN_CONV=im2col avoids it", what, bias ? "" : "out", relu ? " and ReLU" : "");
  return 0;
}

/* oneDNN's weight gradient of s that computes the bias gradient as well, or *out = NULL where oneDNN
 * has none on the layout that `plain` (the weight gradient without it) reads: the bias gradient is
 * then a launch of its own. */
static int onednn_bias_gradient(const nn_conv_shape *s, const nn_onednn_conv *plain, const nn_onednn_conv **out,
                                const char *what) {
  *out = NULL;
  const nn_onednn_conv *c;
  if (nn_onednn_conv_get(&(nn_onednn_key){*s, NN_CONV_GRAD_WEIGHT, true, false}, &c, what) != 0) return -1;
  if (c && nn_onednn_same_source(c, plain)) *out = c;
  return 0;
}

/* ---- geometry ---- */

int nn_conv_shape_infer(nn_conv_shape *s, const char *what) {
  if (s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->kh < 1 || s->kw < 1 || s->oc < 0)
    return nn_fail("%s: sizes must be positive: input (%d, %d, %d, %d), window %dx%d, %d output channels", what,
                   s->n, s->c, s->h, s->w, s->kh, s->kw, s->oc);
  if (s->stride_h < 1 || s->stride_w < 1)
    return nn_fail("%s: stride %dx%d must be at least 1", what, s->stride_h, s->stride_w);
  if (s->pad_top < 0 || s->pad_left < 0 || s->pad_bottom < 0 || s->pad_right < 0)
    return nn_fail("%s: negative padding (top %d, left %d, bottom %d, right %d)", what, s->pad_top, s->pad_left,
                   s->pad_bottom, s->pad_right);
  int64_t ph = (int64_t)s->h + s->pad_top + s->pad_bottom, pw = (int64_t)s->w + s->pad_left + s->pad_right;
  if (s->kh > ph || s->kw > pw)
    return nn_fail("%s: %dx%d window is larger than the padded %lldx%lld input", what, s->kh, s->kw, (long long)ph,
                   (long long)pw);
  int64_t oh = (ph - s->kh) / s->stride_h + 1, ow = (pw - s->kw) / s->stride_w + 1;
  int64_t oc = s->oc > s->c ? s->oc : s->c;
  /* Kernels index with int: the tensors, a batch's columns (K, n * ohw) and the workspace's
   * (K + oc) * ohw floats per image. */
  int64_t kdim = (int64_t)s->c * s->kh * s->kw;
  if ((int64_t)s->n * s->c * s->h * s->w > INT_MAX || s->n * oc * oh * ow > INT_MAX ||
      (kdim + oc) * oh * ow > INT_MAX || kdim * s->n * oh * ow > INT_MAX)
    return nn_fail("%s: input (%d, %d, %d, %d) with a %dx%d window makes tensors of 2^31 elements or more", what,
                   s->n, s->c, s->h, s->w, s->kh, s->kw);
  s->out_h = (int)oh;
  s->out_w = (int)ow;
  return 0;
}

/* Catches a shape that did not come from nn_conv_shape_infer (a planner bug) before a kernel
 * reads out of bounds. */
static int check_geometry(const nn_conv_shape *s, const char *what) {
  nn_conv_shape t = *s;
  if (nn_conv_shape_infer(&t, what) != 0) return -1;
  if (t.out_h != s->out_h || t.out_w != s->out_w)
    return nn_fail("%s: shape says %dx%d output, the geometry gives %dx%d", what, s->out_h, s->out_w, t.out_h,
                   t.out_w);
  return 0;
}

/* Floats of workspace one image needs: the input gradient, its columns (K, ohw) and the GEMM's
 * other operand (oc, ohw); the forward product and the weight gradient, the (oc, ohw) side only. */
static size_t conv_image_floats(const nn_conv_shape *s, nn_conv_part part) {
  size_t k = part == NN_CONV_GRAD_INPUT ? (size_t)s->c * s->kh * s->kw : 0;
  return (k + (size_t)s->oc) * (size_t)s->out_h * (size_t)s->out_w;
}

/* Images per GEMM: as many as fit in the part's budget, at least one, at most n. */
static int conv_chunk(const nn_conv_shape *s, nn_conv_part part) {
  size_t budget = part == NN_CONV_GRAD_INPUT ? CONV_WORKSPACE_FLOATS : CONV_ROWS_FLOATS;
  size_t per = conv_image_floats(s, part), chunk = budget / (per ? per : 1);
  if (chunk < 1) chunk = 1;
  return chunk < (size_t)s->n ? (int)chunk : s->n;
}

int nn_conv_workspace(nn_cl *cl, const nn_conv_shape *s, nn_conv_part part, size_t *floats, const char *what) {
  /* The forward with a bias (the one that prepares the input); the weight gradient with or without
   * the bias gradient, whichever needs more. */
  const nn_onednn_conv *c, *with_bias = NULL;
  if (onednn_part(cl, s, part, part == NN_CONV_FORWARD, false, &c, what) != 0) return -1;
  if (c && part == NN_CONV_GRAD_WEIGHT && onednn_bias_gradient(s, c, &with_bias, what) != 0) return -1;
  size_t bytes = c ? nn_onednn_workspace(c) : 0;
  if (with_bias && nn_onednn_workspace(with_bias) > bytes) bytes = nn_onednn_workspace(with_bias);
  *floats = c ? (bytes + sizeof(float) - 1) / sizeof(float) : (size_t)conv_chunk(s, part) * conv_image_floats(s, part);
  return 0;
}

int nn_conv_cols(nn_cl *cl, const nn_conv_shape *s, size_t *floats, const char *what) {
  const nn_onednn_conv *input;
  if (onednn_input(cl, s, &input, what) != 0) return -1;
  *floats = input ? (nn_onednn_source_bytes(input) + sizeof(float) - 1) / sizeof(float)
                  : (size_t)s->c * s->kh * s->kw * (size_t)s->n * (size_t)s->out_h * (size_t)s->out_w;
  return 0;
}

/* Whether buffer x holds at least `floats` floats; fails naming it (a planner bug) if not. */
static int check_size(cl_mem x, size_t floats, const char *name, const char *need, const char *what) {
  size_t bytes = 0;
  if (floats == 0) return 0; /* a part with nothing to convert may be given no workspace */
  if (nn_cl_check(clGetMemObjectInfo(x, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), what) != 0) return -1;
  if (bytes < floats * sizeof(float))
    return nn_fail("%s: %s of %zu bytes, %s %zu", what, name, bytes, need, floats * sizeof(float));
  return 0;
}

/* Catches a cols buffer that is too small (a planner bug) before a kernel writes past it. */
static int check_cols(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, const char *what) {
  size_t floats;
  if (nn_conv_cols(cl, s, &floats, what) != 0) return -1;
  return check_size(cols, floats, "cols", "the convolution's columns need", what);
}

static int check_conv(nn_cl *cl, const nn_conv_shape *s, nn_conv_part part, cl_mem workspace, const char *what) {
  if (check_geometry(s, what) != 0) return -1;
  if (s->oc < 1) return nn_fail("%s: a convolution needs at least 1 output channel, got %d", what, s->oc);
  size_t floats;
  if (nn_conv_workspace(cl, s, part, &floats, what) != 0) return -1;
  return check_size(workspace, floats, "workspace", "the convolution needs", what);
}

/* ---- convolution ---- */

/* cols (K, nimg * ohw), at the start of buffer cols, from images img0 .. img0 + nimg - 1 of x (n, c, h, w). */
static int conv_im2col(nn_cl *cl, const nn_conv_shape *s, cl_mem x, cl_mem cols, int img0, int nimg,
                       const char *what) {
  cl_kernel k;
  if (nn_cl_kernel(cl, "conv", "conv_im2col", &k) != 0) return nn_fail_prefix("%s", what);
  size_t global[2] = {(size_t)nimg, (size_t)s->c * s->kh * s->kw};
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(cols), NN_ARG(img0), NN_ARG(nimg), NN_ARG(s->c), NN_ARG(s->h),
                 NN_ARG(s->w), NN_ARG(s->kh), NN_ARG(s->kw), NN_ARG(s->stride_h), NN_ARG(s->stride_w),
                 NN_ARG(s->pad_top), NN_ARG(s->pad_left), NN_ARG(s->out_h), NN_ARG(s->out_w), NN_END) != 0)
    return -1;
  return nn_cl_run2d(cl, k, global, NULL, what);
}

/* rows (oc, nimg * ohw) at ws[rows_at] from images img0 .. of dy (n, oc, out_h, out_w). */
static int conv_nchw_to_rows(nn_cl *cl, const nn_conv_shape *s, cl_mem dy, cl_mem ws, int rows_at, int img0,
                             int nimg, const char *what) {
  cl_kernel k;
  if (nn_cl_kernel(cl, "conv", "conv_nchw_to_rows", &k) != 0) return nn_fail_prefix("%s", what);
  int ohw = s->out_h * s->out_w;
  size_t global[2] = {(size_t)nimg, (size_t)s->oc};
  if (nn_cl_args(k, what, NN_ARG(dy), NN_ARG(ws), NN_ARG(rows_at), NN_ARG(img0), NN_ARG(nimg), NN_ARG(s->oc),
                 NN_ARG(ohw), NN_END) != 0)
    return -1;
  return nn_cl_run2d(cl, k, global, NULL, what);
}

int nn_op_im2col(nn_cl *cl, const nn_conv_shape *s, cl_mem x, cl_mem cols, const char *what) {
  const nn_onednn_conv *input;
  if (check_geometry(s, what) != 0 || check_cols(cl, s, cols, what) != 0 || onednn_input(cl, s, &input, what) != 0)
    return -1;
  if (input) return nn_onednn_enqueue(cl, input, true, (cl_mem[]){x, cols}, 2, what);
  return conv_im2col(cl, s, x, cols, 0, s->n, what);
}

int nn_op_conv2d(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, cl_mem w, cl_mem bias, bool relu, cl_mem y,
                 cl_mem workspace, const char *what) {
  int relu_flag = relu;
  const nn_onednn_conv *direct;
  if (check_conv(cl, s, NN_CONV_FORWARD, workspace, what) != 0 || check_cols(cl, s, cols, what) != 0 ||
      onednn_part(cl, s, NN_CONV_FORWARD, bias != NULL, relu, &direct, what) != 0)
    return -1;
  if (direct) {
    if (check_size(workspace, (nn_onednn_workspace(direct) + 3) / 4, "workspace", "the convolution needs", what) != 0)
      return -1;
    return nn_onednn_enqueue(cl, direct, false, (cl_mem[]){cols, w, bias ? bias : y, y, workspace ? workspace : y}, 5, what);
  }
  cl_kernel to_nchw;
  if (nn_cl_kernel(cl, "conv", "conv_rows_to_nchw", &to_nchw) != 0) return nn_fail_prefix("%s", what);
  int chunk = conv_chunk(s, NN_CONV_FORWARD), ohw = s->out_h * s->out_w, kdim = s->c * s->kh * s->kw, rows_at = 0;
  for (int img0 = 0; img0 < s->n; img0 += chunk) {
    int nimg = s->n - img0 < chunk ? s->n - img0 : chunk, ncols = nimg * ohw;
    /* rows (oc, ncols) = w (oc, K) x the chunk's columns of cols (K, n * ohw) */
    if (nn_gemm(cl, false, false, (size_t)s->oc, (size_t)ncols, (size_t)kdim, 1.0f, (nn_matrix){w, 0, (size_t)kdim},
                (nn_matrix){cols, (size_t)img0 * ohw, (size_t)s->n * ohw}, 0.0f,
                (nn_matrix){workspace, (size_t)rows_at, (size_t)ncols}, what) != 0)
      return -1;
    size_t global[2] = {(size_t)nimg, (size_t)s->oc};
    if (nn_cl_args(to_nchw, what, NN_ARG(workspace), NN_ARG(rows_at), NN_ARG(bias), NN_ARG(relu_flag), NN_ARG(y),
                   NN_ARG(img0), NN_ARG(nimg), NN_ARG(s->oc), NN_ARG(ohw), NN_END) != 0 ||
        nn_cl_run2d(cl, to_nchw, global, NULL, what) != 0)
      return -1;
  }
  return 0;
}

int nn_op_conv2d_backward_input(nn_cl *cl, const nn_conv_shape *s, cl_mem dy, cl_mem w, cl_mem dx,
                                cl_mem workspace, const char *what) {
  const nn_onednn_conv *direct;
  if (check_conv(cl, s, NN_CONV_GRAD_INPUT, workspace, what) != 0 ||
      onednn_part(cl, s, NN_CONV_GRAD_INPUT, false, false, &direct, what) != 0)
    return -1;
  if (direct) return nn_onednn_enqueue(cl, direct, false, (cl_mem[]){dy, w, dx, workspace ? workspace : dx}, 4, what);
  cl_kernel col2im;
  if (nn_cl_kernel(cl, "conv", "conv_col2im", &col2im) != 0) return nn_fail_prefix("%s", what);
  int chunk = conv_chunk(s, NN_CONV_GRAD_INPUT), ohw = s->out_h * s->out_w, kdim = s->c * s->kh * s->kw;
  for (int img0 = 0; img0 < s->n; img0 += chunk) {
    int nimg = s->n - img0 < chunk ? s->n - img0 : chunk, ncols = nimg * ohw, rows_at = kdim * ncols;
    /* cols (K, ncols) = w^T (K, oc) x rows (oc, ncols) */
    if (conv_nchw_to_rows(cl, s, dy, workspace, rows_at, img0, nimg, what) != 0 ||
        nn_gemm(cl, true, false, (size_t)kdim, (size_t)ncols, (size_t)s->oc, 1.0f, (nn_matrix){w, 0, (size_t)kdim},
                (nn_matrix){workspace, (size_t)rows_at, (size_t)ncols}, 0.0f,
                (nn_matrix){workspace, 0, (size_t)ncols}, what) != 0)
      return -1;
    if (nn_cl_args(col2im, what, NN_ARG(workspace), NN_ARG(dx), NN_ARG(img0), NN_ARG(nimg), NN_ARG(s->c),
                   NN_ARG(s->h), NN_ARG(s->w), NN_ARG(s->kh), NN_ARG(s->kw), NN_ARG(s->stride_h),
                   NN_ARG(s->stride_w), NN_ARG(s->pad_top), NN_ARG(s->pad_left), NN_ARG(s->out_h),
                   NN_ARG(s->out_w), NN_END) != 0 ||
        nn_cl_run1d(cl, col2im, (size_t)nimg * s->c, 0, what) != 0)
      return -1;
  }
  return 0;
}

/* dw from cols and dy through GEMMs over chunks of images. */
static int weight_gradient_gemms(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, cl_mem dy, cl_mem dw,
                                 cl_mem workspace, const char *what) {
  int chunk = conv_chunk(s, NN_CONV_GRAD_WEIGHT), ohw = s->out_h * s->out_w, kdim = s->c * s->kh * s->kw;
  for (int img0 = 0; img0 < s->n; img0 += chunk) {
    int nimg = s->n - img0 < chunk ? s->n - img0 : chunk, ncols = nimg * ohw;
    /* dw (oc, K) (+)= rows (oc, ncols) x (the chunk's columns of cols)^T (ncols, K): the first
     * chunk overwrites. */
    if (conv_nchw_to_rows(cl, s, dy, workspace, 0, img0, nimg, what) != 0 ||
        nn_gemm(cl, false, true, (size_t)s->oc, (size_t)kdim, (size_t)ncols, 1.0f,
                (nn_matrix){workspace, 0, (size_t)ncols}, (nn_matrix){cols, (size_t)img0 * ohw, (size_t)s->n * ohw},
                img0 == 0 ? 0.0f : 1.0f, (nn_matrix){dw, 0, (size_t)kdim}, what) != 0)
      return -1;
  }
  return 0;
}

int nn_op_conv2d_backward_weight(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, cl_mem dy, cl_mem dw, cl_mem dbias,
                                 cl_mem workspace, const char *what) {
  const nn_onednn_conv *direct;
  if (check_conv(cl, s, NN_CONV_GRAD_WEIGHT, workspace, what) != 0 || check_cols(cl, s, cols, what) != 0 ||
      onednn_part(cl, s, NN_CONV_GRAD_WEIGHT, false, false, &direct, what) != 0)
    return -1;
  if (direct) {
    const nn_onednn_conv *with_bias = NULL;
    if (dbias && (check_size(dbias, (size_t)s->oc, "bias gradient", "the convolution writes", what) != 0 ||
                  onednn_bias_gradient(s, direct, &with_bias, what) != 0))
      return -1;
    if (with_bias)
      return nn_onednn_enqueue(cl, with_bias, false, (cl_mem[]){cols, dy, dw, workspace ? workspace : dw, dbias}, 5,
                               what);
    if (nn_onednn_enqueue(cl, direct, false, (cl_mem[]){cols, dy, dw, workspace ? workspace : dw}, 4, what) != 0) return -1;
  } else if (weight_gradient_gemms(cl, s, cols, dy, dw, workspace, what) != 0) {
    return -1;
  }
  if (!dbias) return 0;
  const int x_dims[4] = {s->n, s->oc, s->out_h, s->out_w}, y_dims[4] = {1, s->oc, 1, 1};
  return nn_op_reduce_to(cl, dy, x_dims, dbias, y_dims, 1.0f, what);
}

/* ---- pooling ---- */

int nn_op_pool2d(nn_cl *cl, const nn_conv_shape *s, bool max, cl_mem x, cl_mem y, const char *what) {
  if (check_geometry(s, what) != 0) return -1;
  cl_kernel k;
  if (nn_cl_kernel(cl, "pool", "pool2d_forward", &k) != 0) return nn_fail_prefix("%s", what);
  int is_max = max, nc = s->n * s->c;
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(is_max), NN_ARG(nc), NN_ARG(s->h), NN_ARG(s->w),
                 NN_ARG(s->kh), NN_ARG(s->kw), NN_ARG(s->stride_h), NN_ARG(s->stride_w), NN_ARG(s->pad_top),
                 NN_ARG(s->pad_left), NN_ARG(s->out_h), NN_ARG(s->out_w), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)nc * s->out_h, 0, what); /* a work-item per output row */
}

int nn_op_pool2d_backward(nn_cl *cl, const nn_conv_shape *s, bool max, cl_mem x, cl_mem y, cl_mem dy, cl_mem dx,
                          const char *what) {
  if (check_geometry(s, what) != 0) return -1;
  /* Windows that do not overlap (2x2 stride 2) scatter from each window, 3x faster on PoCL's CPU
   * device than gathering into each pixel; overlapping ones gather. Max pooling 2x2 stride 2, the
   * common case, has a kernel of its own, twice as fast again. */
  bool disjoint = s->stride_h >= s->kh && s->stride_w >= s->kw;
  bool max2x2 = max && s->kh == 2 && s->kw == 2 && s->stride_h == 2 && s->stride_w == 2 && s->pad_top == 0 &&
                s->pad_left == 0 && 2 * s->out_h <= s->h && 2 * s->out_w <= s->w; /* no window in the padding */
  cl_kernel k;
  const char *name = max2x2 ? "pool2d_backward_max2x2" : disjoint ? "pool2d_backward_disjoint" : "pool2d_backward";
  if (nn_cl_kernel(cl, "pool", name, &k) != 0) return nn_fail_prefix("%s", what);
  int is_max = max, nc = s->n * s->c;
  /* Disjoint windows leave uncovered pixels (a stride above the window, rows past the last
   * window, padding) unwritten: they get 0 first. */
  bool covered = s->stride_h == s->kh && s->stride_w == s->kw && s->pad_top == 0 && s->pad_left == 0 &&
                 s->out_h * s->kh == s->h && s->out_w * s->kw == s->w;
  size_t bytes = (size_t)nc * s->h * s->w * sizeof(float);
  if (disjoint && !covered &&
      nn_cl_check(clEnqueueFillBuffer(nn_cl_queue(cl), dx, &(float){0.0f}, sizeof(float), 0, bytes, 0, NULL, NULL),
                  what) != 0)
    return -1;
  int args = max2x2 ? nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(dy), NN_ARG(dx), NN_ARG(nc), NN_ARG(s->h),
                                 NN_ARG(s->w), NN_ARG(s->out_h), NN_ARG(s->out_w), NN_END)
                    : nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(dy), NN_ARG(dx), NN_ARG(is_max), NN_ARG(nc),
                                 NN_ARG(s->h), NN_ARG(s->w), NN_ARG(s->kh), NN_ARG(s->kw), NN_ARG(s->stride_h),
                                 NN_ARG(s->stride_w), NN_ARG(s->pad_top), NN_ARG(s->pad_left), NN_ARG(s->out_h),
                                 NN_ARG(s->out_w), NN_END);
  if (args != 0) return -1;
  /* disjoint windows: a work-item per row of windows; overlapping ones: per input pixel */
  return nn_cl_run1d(cl, k, (size_t)nc * (disjoint ? s->out_h : s->h * s->w), 0, what);
}

/* ---- batch normalisation ---- */

static int check_bn(int n, int c, int hw, const char *what) {
  if (n < 1 || c < 1 || hw < 1) return nn_fail("%s: batchnorm sizes must be positive: (%d, %d, %d)", what, n, c, hw);
  if ((int64_t)n * c * hw > INT_MAX)
    return nn_fail("%s: batchnorm input (%d, %d, %d) has 2^31 elements or more", what, n, c, hw);
  return 0;
}

int nn_op_batchnorm_stats(nn_cl *cl, cl_mem x, cl_mem running_mean, cl_mem running_var, cl_mem stats, int n, int c,
                          int hw, float eps, float momentum, bool training, const char *what) {
  if (check_bn(n, c, hw, what) != 0) return -1;
  if (!running_mean || !running_var || !stats)
    return nn_fail("%s: batchnorm statistics need the running mean, the running variance and a stats buffer", what);
  cl_kernel k;
  if (!training) {
    if (nn_cl_kernel(cl, "batchnorm", "bn_running_stats", &k) != 0) return nn_fail_prefix("%s", what);
    if (nn_cl_args(k, what, NN_ARG(running_mean), NN_ARG(running_var), NN_ARG(stats), NN_ARG(c), NN_ARG(eps),
                   NN_END) != 0)
      return -1;
    return nn_cl_run1d(cl, k, (size_t)c, 0, what);
  }
  size_t local = reduce_local(cl);
  if (nn_cl_kernel(cl, "batchnorm", "bn_stats", &k) != 0) return nn_fail_prefix("%s", what);
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(stats), NN_ARG(running_mean), NN_ARG(running_var), NN_ARG(n), NN_ARG(c),
                 NN_ARG(hw), NN_ARG(eps), NN_ARG(momentum), NN_LOCAL(local * sizeof(float)), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)c * local, local, what);
}

int nn_op_batchnorm(nn_cl *cl, cl_mem x, cl_mem stats, cl_mem gamma, cl_mem beta, cl_mem y, int n, int c, int hw,
                    const char *what) {
  if (check_bn(n, c, hw, what) != 0) return -1;
  if (!stats || !gamma || !beta) return nn_fail("%s: batchnorm needs stats, gamma and beta buffers", what);
  cl_kernel k;
  if (nn_cl_kernel(cl, "batchnorm", "bn_normalize", &k) != 0) return nn_fail_prefix("%s", what);
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(y), NN_ARG(stats), NN_ARG(gamma), NN_ARG(beta), NN_ARG(n), NN_ARG(c),
                 NN_ARG(hw), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n * c, 0, what);
}

int nn_op_batchnorm_sums(nn_cl *cl, cl_mem x, cl_mem dy, cl_mem stats, cl_mem sums, int n, int c, int hw,
                         const char *what) {
  if (check_bn(n, c, hw, what) != 0) return -1;
  if (!stats || !sums) return nn_fail("%s: batchnorm backward needs stats and sums buffers", what);
  cl_kernel k;
  if (nn_cl_kernel(cl, "batchnorm", "bn_backward_sums", &k) != 0) return nn_fail_prefix("%s", what);
  size_t local = reduce_local(cl);
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(dy), NN_ARG(stats), NN_ARG(sums), NN_ARG(n), NN_ARG(c), NN_ARG(hw),
                 NN_LOCAL(local * sizeof(float)), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)c * local, local, what);
}

int nn_op_batchnorm_backward(nn_cl *cl, cl_mem x, cl_mem dy, cl_mem gamma, cl_mem stats, cl_mem sums, cl_mem dx, int n,
                             int c, int hw, bool training, const char *what) {
  if (check_bn(n, c, hw, what) != 0) return -1;
  if (!gamma || !stats || !sums) return nn_fail("%s: batchnorm backward needs gamma, stats and sums buffers", what);
  cl_kernel k;
  if (nn_cl_kernel(cl, "batchnorm", "bn_backward_dx", &k) != 0) return nn_fail_prefix("%s", what);
  int train = training;
  if (nn_cl_args(k, what, NN_ARG(x), NN_ARG(dy), NN_ARG(gamma), NN_ARG(stats), NN_ARG(sums), NN_ARG(dx), NN_ARG(train),
                 NN_ARG(n), NN_ARG(c), NN_ARG(hw), NN_END) != 0)
    return -1;
  return nn_cl_run1d(cl, k, (size_t)n * c, 0, what);
}
