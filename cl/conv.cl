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

/* One work-item per (row k of cols, output row (img, oy)): it fills the ow consecutive columns of
 * that output row. Looping over ox inside the work-item keeps index arithmetic (integer
 * divisions) out of the per-element path; on PoCL's CPU device this is 4x faster than one
 * work-item per element. 2-D range: dim 0 r = img * oh + oy < nimg * oh, dim 1 k < c * kh * kw.
 * x (n, c, h, w); cols (c * kh * kw, nimg * oh * ow). */
__kernel void conv_im2col(__global const float *x, __global float *cols, int img0, int nimg, int c, int h,
                          int w, int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                          int oh, int ow) {
  int r = get_global_id(0), k = get_global_id(1);
  if (r >= nimg * oh || k >= c * kh * kw) return;
  int img = r / oh, oy = r - img * oh;
  int ci = k / (kh * kw), kk = k - ci * kh * kw, ky = kk / kw, kx = kk - ky * kw;
  int iy = oy * stride_h - pad_top + ky;
  __global float *out = cols + k * nimg * oh * ow + r * ow;
  if (iy < 0 || iy >= h) {
    for (int ox = 0; ox < ow; ox++) out[ox] = 0.0f;
    return;
  }
  __global const float *in = x + (((img0 + img) * c + ci) * h + iy) * w;
  for (int ox = 0; ox < ow; ox++) {
    int ix = ox * stride_w - pad_left + kx;
    out[ox] = ix >= 0 && ix < w ? in[ix] : 0.0f;
  }
}

/* The adjoint of conv_im2col without atomics: one work-item per input row (img, ci, iy) owns that
 * row of dx, clears it and adds every column entry that was copied from it. Row iy was read by
 * (oy, ky) with oy * stride_h - pad_top + ky == iy, i.e. ky == iy + pad_top (mod stride_h) and
 * 0 <= oy < oh; within such a (ky, kx), pixel ix gets column ox with ox * stride_w - pad_left + kx
 * == ix. Every pixel is written, so dx needs no clearing beforehand.
 * cols (c * kh * kw, nimg * oh * ow); dx (n, c, h, w), images img0 .. img0 + nimg - 1. */
__kernel void conv_col2im(__global const float *cols, __global float *dx, int img0, int nimg, int c, int h,
                          int w, int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left,
                          int oh, int ow) {
  int r = get_global_id(0);
  if (r >= nimg * c * h) return;
  int iy = r % h, t = r / h, ci = t % c, img = t / c;
  int ncols = nimg * oh * ow;
  __global float *out = dx + (img0 * c * h + r) * w;
  for (int ix = 0; ix < w; ix++) out[ix] = 0.0f;
  int yp = iy + pad_top;  /* row in the padded image */
  /* Smallest ky congruent to yp whose oy = (yp - ky) / stride_h is below oh; ky <= yp keeps oy >= 0. */
  int ky0 = max(0, yp - (oh - 1) * stride_h);
  ky0 += (yp - ky0) % stride_h;
  for (int ky = ky0; ky <= min(kh - 1, yp); ky += stride_h) {
    int oy = (yp - ky) / stride_h;
    for (int kx = 0; kx < kw; kx++) {
      __global const float *src = cols + ((ci * kh + ky) * kw + kx) * ncols + (img * oh + oy) * ow;
      /* the columns ox whose pixel ox * stride_w - pad_left + kx lies in [0, w): ox * stride_w
       * >= pad_left - kx and <= last; a negative last (kx in the right padding for every ox)
       * must skip, not truncate to ox = 0. */
      int last = w - 1 + pad_left - kx;
      if (last < 0) continue;
      int lo = pad_left > kx ? (pad_left - kx + stride_w - 1) / stride_w : 0;
      int hi = min(ow - 1, last / stride_w);
      for (int ox = lo; ox <= hi; ox++) out[ox * stride_w - pad_left + kx] += src[ox];
    }
  }
}

/* rows -> NCHW with the bias added (bias may be NULL). One work-item per (channel o, image img)
 * copies the ohw pixels, contiguous on both sides. 2-D range: dim 0 img < nimg, dim 1 o < oc.
 * ws[rows_at ..] (oc, nimg * ohw); bias (oc); y (n, oc, ohw). */
__kernel void conv_rows_to_nchw(__global const float *ws, int rows_at, __global const float *bias,
                                __global float *y, int img0, int nimg, int oc, int ohw) {
  int img = get_global_id(0), o = get_global_id(1);
  if (img >= nimg || o >= oc) return;
  __global const float *src = ws + rows_at + (o * nimg + img) * ohw;
  __global float *dst = y + ((img0 + img) * oc + o) * ohw;
  float b = bias ? bias[o] : 0.0f;
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

/* dbias[o] = sum of dy over (n, ohw): one work-group of get_local_size(0) work-items (a power of
 * two) per channel. Work-item l sums the flat indices l, l + size, ... of the channel's n * ohw
 * values in order, stepping (img, p) without a division per value; then a tree in local memory.
 * The result does not depend on the host's chunking.
 * dy (n, oc, ohw); dbias (oc); part: local_size floats. */
__kernel void conv_bias_grad(__global const float *dy, __global float *dbias, int n, int oc, int ohw,
                             __local float *part) {
  int o = get_group_id(0), l = get_local_id(0), size = get_local_size(0);
  int img = l / ohw, p = l - img * ohw, step_img = size / ohw, step_p = size - step_img * ohw;
  float sum = 0.0f;
  while (img < n) {
    sum += dy[(img * oc + o) * ohw + p];
    img += step_img;
    p += step_p;
    if (p >= ohw) p -= ohw, img++;
  }
  part[l] = sum;
  for (int step = size / 2; step > 0; step /= 2) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < step) part[l] += part[l + step];
  }
  if (l == 0) dbias[o] = part[0];
}
