/* conv: the data movement around convolution as GEMM (src/ops/nn_ops_conv.c).
 *
 * Images are processed in chunks of `nimg` images starting at image `img0`. A chunk's columns
 * matrix `cols` (K, nimg * ohw), K = c * kh * kw, holds in column j = img * ohw + oy * ow + ox the
 * input window under output pixel (oy, ox) of image img, row k = (ci * kh + ky) * kw + kx, zeros
 * where the window lies in the padding. Output-like tensors meet the GEMM as `rows` (oc, nimg * ohw),
 * the same column order, so one GEMM covers the whole chunk:
 *   forward          rows = W (oc, K) x cols               then rows -> y (NCHW) + bias
 *   backward input   dy (NCHW) -> rows; cols = W^T x rows  then col2im -> dx
 *   backward weight  dy (NCHW) -> rows; dW += rows x cols^T
 * `cols` and `rows` live in one workspace buffer; `rows_at` is the element offset of rows in it.
 * Every index fits in int: the host keeps tensors and the workspace below 2^31 elements.
 */

/* The columns ox of an output row whose input pixel ix = ox * stride_w - pad_left + kx lies in
 * [0, w): lo .. hi (hi < lo when none does, kx in the padding for every ox). */
static void columns_inside(int kx, int w, int stride_w, int pad_left, int ow, int *lo, int *hi) {
  int last = w - 1 + pad_left - kx;
  *lo = pad_left > kx ? (pad_left - kx + stride_w - 1) / stride_w : 0;
  *hi = last < 0 ? -1 : min(ow - 1, last / stride_w);
}

/* One work-item per (image img, row k of cols): it fills that image's ohw columns of row k, the
 * contiguous cols[k][img * ohw .. (img + 1) * ohw). Each work-item copies a whole output plane,
 * so the index arithmetic (the divisions of k, the bounds of the window) is done once per ohw
 * elements, and the copy loops run without bounds checks between the padding on either side:
 * on PoCL's CPU device the cost of a work-item, not of an element, decides this kernel's time.
 * 2-D range: dim 0 img < nimg, dim 1 k < c * kh * kw.
 * x (n, c, h, w); cols (c * kh * kw, nimg * oh * ow). */
__kernel void conv_im2col(__global const float *x, __global float *cols, int img0, int nimg, int c, int h,
                          int w, int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                          int oh, int ow) {
  int img = get_global_id(0), k = get_global_id(1);
  if (img >= nimg || k >= c * kh * kw) return;
  int ci = k / (kh * kw), kk = k - ci * kh * kw, ky = kk / kw, kx = kk - ky * kw;
  int lo, hi;
  columns_inside(kx, w, stride_w, pad_left, ow, &lo, &hi);
  __global const float *plane = x + ((img0 + img) * c + ci) * h * w;
  __global float *out = cols + k * nimg * oh * ow + img * oh * ow;
  for (int oy = 0; oy < oh; oy++, out += ow) {
    int iy = oy * stride_h - pad_top + ky;
    if (iy < 0 || iy >= h || hi < lo) {
      for (int ox = 0; ox < ow; ox++) out[ox] = 0.0f;
      continue;
    }
    __global const float *in = plane + iy * w - pad_left + kx;
    for (int ox = 0; ox < lo; ox++) out[ox] = 0.0f;
    for (int ox = lo; ox <= hi; ox++) out[ox] = in[ox * stride_w];
    for (int ox = hi + 1; ox < ow; ox++) out[ox] = 0.0f;
  }
}

/* The adjoint of conv_im2col without atomics: one work-item per input plane (img, ci) owns that
 * plane of dx, clears it and adds every column entry that was copied from it: for each (ky, kx),
 * column (oy, ox) of row k = (ci * kh + ky) * kw + kx came from pixel (oy * stride_h - pad_top +
 * ky, ox * stride_w - pad_left + kx). The plane (h * w floats) stays in the cache while the
 * kh * kw rows of cols stream through. Every pixel is written, so dx needs no clearing beforehand.
 * cols (c * kh * kw, nimg * oh * ow); dx (n, c, h, w), images img0 .. img0 + nimg - 1. */
__kernel void conv_col2im(__global const float *cols, __global float *dx, int img0, int nimg, int c, int h,
                          int w, int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                          int oh, int ow) {
  int p = get_global_id(0);
  if (p >= nimg * c) return;
  int img = p / c, ci = p - img * c, ohw = oh * ow;
  __global float *plane = dx + (img0 * c + p) * h * w;
  for (int i = 0; i < h * w; i++) plane[i] = 0.0f;
  for (int ky = 0; ky < kh; ky++) {
    /* the output rows oy whose input row oy * stride_h - pad_top + ky lies in [0, h) */
    int oy0, oy1;
    columns_inside(ky, h, stride_h, pad_top, oh, &oy0, &oy1);
    for (int kx = 0; kx < kw; kx++) {
      int lo, hi;
      columns_inside(kx, w, stride_w, pad_left, ow, &lo, &hi);
      __global const float *src = cols + ((ci * kh + ky) * kw + kx) * nimg * ohw + img * ohw;
      for (int oy = oy0; oy <= oy1; oy++) {
        __global float *out = plane + (oy * stride_h - pad_top + ky) * w - pad_left + kx;
        __global const float *row = src + oy * ow;
        for (int ox = lo; ox <= hi; ox++) out[ox * stride_w] += row[ox];
      }
    }
  }
}

/* rows -> NCHW with the bias added (bias may be NULL), then a ReLU if relu is set (the layer's
 * activation, fused by nn_plan). One work-item per (channel o, image img) copies the ohw pixels,
 * contiguous on both sides. 2-D range: dim 0 img < nimg, dim 1 o < oc.
 * ws[rows_at ..] (oc, nimg * ohw); bias (oc); y (n, oc, ohw). */
__kernel void conv_rows_to_nchw(__global const float *ws, int rows_at, __global const float *bias, int relu,
                                __global float *y, int img0, int nimg, int oc, int ohw) {
  int img = get_global_id(0), o = get_global_id(1);
  if (img >= nimg || o >= oc) return;
  __global const float *src = ws + rows_at + (o * nimg + img) * ohw;
  __global float *dst = y + ((img0 + img) * oc + o) * ohw;
  float b = bias ? bias[o] : 0.0f;
  if (relu)
    for (int p = 0; p < ohw; p++) dst[p] = fmax(src[p] + b, 0.0f);
  else
    for (int p = 0; p < ohw; p++) dst[p] = src[p] + b;
}

/* NCHW -> rows, the transpose of the above without bias. Same range.
 * dy (n, oc, ohw); ws[rows_at ..] (oc, nimg * ohw). */
__kernel void conv_nchw_to_rows(__global const float *dy, __global float *ws, int rows_at, int img0, int nimg,
                                int oc, int ohw) {
  int img = get_global_id(0), o = get_global_id(1);
  if (img >= nimg || o >= oc) return;
  __global const float *src = dy + ((img0 + img) * oc + o) * ohw;
  __global float *dst = ws + rows_at + (o * nimg + img) * ohw;
  for (int p = 0; p < ohw; p++) dst[p] = src[p];
}
