/* pool: max and average pooling over NCHW images (src/ops/nn_ops_conv.c).
 *
 * Output pixel (oy, ox) covers input rows oy * stride_h - pad_top .. + kh - 1 and the like for
 * columns, clipped to the image: padding is never read. Max takes the first maximum in row-major
 * window order; average divides by the number of pixels inside the image. A window that lies
 * wholly in the padding (possible when a pad is at least the window) has no pixel and gives 0,
 * rather than -inf or 0/0 that would poison the rest of the graph.
 */

/* The window of output (oy, ox), clipped to the image: rows y0 <= iy < y1, columns x0 <= ix < x1. */
#define POOL_WINDOW(oy, ox)                                           \
  int y0 = (oy) * stride_h - pad_top, x0 = (ox) * stride_w - pad_left; \
  int y1 = min(y0 + kh, h), x1 = min(x0 + kw, w);                     \
  y0 = max(y0, 0);                                                    \
  x0 = max(x0, 0)

/* One work-item per output row (plane, oy), looping over its ow windows: on PoCL's CPU device a
 * work-item costs more than a window's few loads, so a work-item per output element spent most of
 * its time starting work-items. x (n, c, h, w); y (n, c, oh, ow). */
__kernel void pool2d_forward(__global const float *x, __global float *y, int is_max, int nc, int h, int w,
                             int kh, int kw, int stride_h, int stride_w, int pad_top, int pad_left, int oh,
                             int ow) {
  int row = get_global_id(0);
  if (row >= nc * oh) return;
  int oy = row % oh, plane = row / oh;
  __global const float *xp = x + plane * h * w;
  __global float *yrow = y + row * ow;
  for (int ox = 0; ox < ow; ox++) {
    POOL_WINDOW(oy, ox);
    float out = 0.0f;
    if (y0 < y1 && x0 < x1) {
      if (is_max) {
        out = xp[y0 * w + x0];
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) out = xp[iy * w + ix] > out ? xp[iy * w + ix] : out;
      } else {
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) out += xp[iy * w + ix];
        out /= (float)((y1 - y0) * (x1 - x0));
      }
    }
    yrow[ox] = out;
  }
}

/* One work-item per input pixel, gathering from the windows that contain it (no atomics):
 * rows oy with oy * stride_h - pad_top <= iy < oy * stride_h - pad_top + kh, within [0, oh).
 * Max: the pixel gets dy of a window only if it is the window's first element equal to y there,
 * which is the first maximum the forward chose.
 * x, dx (n, c, h, w); y, dy (n, c, oh, ow). */
__kernel void pool2d_backward(__global const float *x, __global const float *y, __global const float *dy,
                              __global float *dx, int is_max, int nc, int h, int w, int kh, int kw,
                              int stride_h, int stride_w, int pad_top, int pad_left, int oh, int ow) {
  int i = get_global_id(0);
  if (i >= nc * h * w) return;
  int ix = i % w, t = i / w, iy = t % h, plane = t / h;
  int yp = iy + pad_top, xp = ix + pad_left;  /* position in the padded image */
  /* oy >= ceil((yp - kh + 1) / stride_h), written for a possibly negative numerator. */
  int oy0 = yp >= kh ? (yp - kh) / stride_h + 1 : 0, oy1 = min(yp / stride_h, oh - 1);
  int ox0 = xp >= kw ? (xp - kw) / stride_w + 1 : 0, ox1 = min(xp / stride_w, ow - 1);
  __global const float *xplane = x + plane * h * w;
  int out_at = plane * oh * ow;
  float sum = 0.0f;
  for (int oy = oy0; oy <= oy1; oy++)
    for (int ox = ox0; ox <= ox1; ox++) {
      int o = out_at + oy * ow + ox;
      POOL_WINDOW(oy, ox);
      if (is_max) {
        /* Scan to the first element equal to the maximum; stop there. */
        int first = -1;
        for (int wy = y0; wy < y1 && first < 0; wy++)
          for (int wx = x0; wx < x1; wx++)
            if (xplane[wy * w + wx] == y[o]) {
              first = wy * w + wx;
              break;
            }
        if (first == iy * w + ix) sum += dy[o];
      } else {
        sum += dy[o] / (float)((y1 - y0) * (x1 - x0));
      }
    }
  dx[i] = sum;
}

/* The same gradient when windows do not overlap (stride >= window in both directions, the usual
 * 2x2 stride-2 pooling): each window writes every pixel of it, the first maximum's dy (or for
 * average the share of dy) and 0 for the rest, so there is no search over the windows that could
 * contain a pixel. One work-item per row of windows (plane, oy), as in pool2d_forward. Pixels no
 * window covers must be cleared beforehand.
 * x, dx (n, c, h, w); y, dy (n, c, oh, ow). */
__kernel void pool2d_backward_disjoint(__global const float *x, __global const float *y, __global const float *dy,
                                       __global float *dx, int is_max, int nc, int h, int w, int kh, int kw,
                                       int stride_h, int stride_w, int pad_top, int pad_left, int oh, int ow) {
  int row = get_global_id(0);
  if (row >= nc * oh) return;
  int oy = row % oh, plane = row / oh;
  __global const float *xplane = x + plane * h * w;
  __global float *dxplane = dx + plane * h * w;
  for (int ox = 0; ox < ow; ox++) {
    POOL_WINDOW(oy, ox);
    int o = row * ow + ox;
    float g = dy[o], m = y[o];
    if (is_max) {
      bool found = false;
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
          bool first = !found && xplane[iy * w + ix] == m;
          found = found || first;
          dxplane[iy * w + ix] = first ? g : 0.0f;
        }
    } else {
      float share = g / (float)((y1 - y0) * (x1 - x0));
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) dxplane[iy * w + ix] = share;
    }
  }
}

/* pool2d_backward_disjoint for max pooling 2x2 stride 2 without padding, the pooling of most CNNs,
 * with the window's four pixels as straight-line code: twice as fast on PoCL's CPU device as the
 * loops over a window of any size. The window's first maximum (row-major) gets dy; a window
 * without one (a NaN) gives 0 everywhere, as in the general kernel. Needs 2 * oh <= h, 2 * ow <= w.
 * x, dx (n, c, h, w); y, dy (n, c, oh, ow); a work-item per row of windows (plane, oy). */
__kernel void pool2d_backward_max2x2(__global const float *x, __global const float *y, __global const float *dy,
                                     __global float *dx, int nc, int h, int w, int oh, int ow) {
  int row = get_global_id(0);
  if (row >= nc * oh) return;
  int oy = row % oh, plane = row / oh;
  __global const float *top = x + plane * h * w + 2 * oy * w, *bottom = top + w;
  __global float *dtop = dx + plane * h * w + 2 * oy * w, *dbottom = dtop + w;
  for (int ox = 0; ox < ow; ox++) {
    float m = y[row * ow + ox], g = dy[row * ow + ox];
    bool f0 = top[2 * ox] == m, f1 = !f0 && top[2 * ox + 1] == m;
    bool f2 = !f0 && !f1 && bottom[2 * ox] == m, f3 = !f0 && !f1 && !f2 && bottom[2 * ox + 1] == m;
    dtop[2 * ox] = f0 ? g : 0.0f;
    dtop[2 * ox + 1] = f1 ? g : 0.0f;
    dbottom[2 * ox] = f2 ? g : 0.0f;
    dbottom[2 * ox + 1] = f3 ? g : 0.0f;
  }
}
