/* Row kernels: softmax and log-softmax, cross-entropy, accuracy and MSE, plus the sums that turn
 * a tensor into one number. Host side: src/ops/nn_ops.c.
 *
 * Layout. A matrix x (rows, cols) is row-major float32: row r is x[r * cols .. r * cols + cols).
 * Labels are int32, one per row.
 * - Row kernels (softmax, its backward, the cross-entropy backward): one work-item per row,
 *   global size rows (rounded up; work-items past the last row return at once).
 * - Kernels with a 1-element result (sum, cross-entropy, accuracy, MSE): exactly one work-group,
 *   whose size is a power of two passed explicitly by the host, with that many floats of local
 *   memory in `scratch`. Work-item l takes rows l, l + size, l + 2 size, ... (elements: see
 *   my_range()), then group_sum() adds the partial sums in a tree and work-item 0 writes the
 *   result.
 * Logits stay stable at any magnitude: every exponential is exp(x - row maximum) <= 1.
 * A label outside [0, cols) is never used as an index (the host checks labels first): the loss
 * becomes NaN, so the mistake is visible, and the row never counts as correct.
 */

/* Sum over the work-group of each work-item's v, returned to every work-item. The local size
 * must be a power of two; scratch holds one float per work-item. */
float group_sum(const float v, __local float *scratch) {
  const int l = (int)get_local_id(0);
  scratch[l] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = (int)get_local_size(0) >> 1; s > 0; s >>= 1) {
    if (l < s) scratch[l] += scratch[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  return scratch[0];
}

/* The elements that work-item l of the one work-group adds up, as (first, end, step, 0):
 * first, first + step, ... below end. chunk 0 (GPUs): every local-size-th element from l, so
 * adjacent work-items read adjacent elements. chunk > 0 (CPUs): a contiguous run of chunk
 * elements; PoCL runs the work-items one after another, and interleaved work-items would read
 * each cache line once per work-item. */
int4 my_range(const int n, const int chunk) {
  const int l = (int)get_local_id(0);
  if (chunk == 0) return (int4)(l, n, (int)get_local_size(0), 0);
  const int first = l * chunk;
  return (int4)(first, first + min(chunk, n - first), 1, 0);
}

float row_max(__global const float *x, const int cols) {
  float m = x[0];
  for (int j = 1; j < cols; j++) m = fmax(m, x[j]);
  return m;
}

/* log sum_j exp(x[j] - m) for the row maximum m, a number in [0, log cols]. Results are built
 * as (x - m) - this, which keeps its precision at any magnitude of the logits, where
 * x - (m + this) would round at the scale of x (1000 has an ulp of 6e-5). */
float row_shifted_lse(__global const float *x, const int cols, const float m) {
  float s = 0.0f;
  for (int j = 0; j < cols; j++) s += exp(x[j] - m);
  return log(s);
}

/* ---- softmax ---- */

/* y (rows, cols) = softmax(x) or, with take_log != 0, log_softmax(x) = (x - m) - log sum exp(x - m). */
__kernel void softmax(__global const float *x, __global float *y, const int rows, const int cols,
                      const int take_log) {
  const int r = (int)get_global_id(0);
  if (r >= rows) return;
  __global const float *xr = x + (size_t)r * cols;
  __global float *yr = y + (size_t)r * cols;
  const float m = row_max(xr, cols);
  if (take_log) {
    const float lse = row_shifted_lse(xr, cols, m);
    for (int j = 0; j < cols; j++) yr[j] = (xr[j] - m) - lse;
  } else {
    float s = 0.0f;
    for (int j = 0; j < cols; j++) {
      const float e = exp(xr[j] - m);
      yr[j] = e;
      s += e;
    }
    const float inv = 1.0f / s;
    for (int j = 0; j < cols; j++) yr[j] *= inv;
  }
}

/* dx (rows, cols) from y and dy: softmax dx = y (dy - sum(dy y)); log-softmax
 * dx = dy - exp(y) sum(dy). */
__kernel void softmax_backward(__global const float *y, __global const float *dy, __global float *dx, const int rows,
                               const int cols, const int take_log) {
  const int r = (int)get_global_id(0);
  if (r >= rows) return;
  const size_t o = (size_t)r * cols;
  float s = 0.0f;
  if (take_log) {
    for (int j = 0; j < cols; j++) s += dy[o + j];
    for (int j = 0; j < cols; j++) dx[o + j] = dy[o + j] - exp(y[o + j]) * s;
  } else {
    for (int j = 0; j < cols; j++) s += dy[o + j] * y[o + j];
    for (int j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - s);
  }
}

/* ---- cross-entropy and accuracy ---- */

/* loss[0] = mean over rows of log sum exp(row) - row[label], computed as
 * (m - row[label]) + log sum exp(row - m). One work-group. */
__kernel void cross_entropy(__global const float *logits, __global const int *labels, __global float *loss,
                            const int rows, const int cols, __local float *scratch) {
  float part = 0.0f;
  for (int r = (int)get_local_id(0); r < rows; r += (int)get_local_size(0)) {
    __global const float *xr = logits + (size_t)r * cols;
    const int t = labels[r];
    if (t >= 0 && t < cols) {
      const float m = row_max(xr, cols);
      part += (m - xr[t]) + row_shifted_lse(xr, cols, m);
    } else {
      part = NAN;
    }
  }
  const float total = group_sum(part, scratch);
  if (get_local_id(0) == 0) loss[0] = total / (float)rows;
}

/* dlogits (rows, cols) = (softmax(logits) - onehot(label)) * dloss[0] / rows. */
__kernel void cross_entropy_backward(__global const float *logits, __global const int *labels,
                                     __global const float *dloss, __global float *dlogits, const int rows,
                                     const int cols) {
  const int r = (int)get_global_id(0);
  if (r >= rows) return;
  __global const float *xr = logits + (size_t)r * cols;
  __global float *dr = dlogits + (size_t)r * cols;
  const int t = labels[r];
  const float m = row_max(xr, cols);
  float s = 0.0f;
  for (int j = 0; j < cols; j++) s += exp(xr[j] - m);
  const float g = dloss[0] / (float)rows, k = g / s;
  for (int j = 0; j < cols; j++) dr[j] = exp(xr[j] - m) * k - (j == t ? g : 0.0f);
}

/* correct[0] = number of rows whose first maximum is at the label, as a float (exact below
 * 2^24 rows). One work-group. */
__kernel void accuracy(__global const float *logits, __global const int *labels, __global float *correct,
                       const int rows, const int cols, __local float *scratch) {
  float part = 0.0f;
  for (int r = (int)get_local_id(0); r < rows; r += (int)get_local_size(0)) {
    __global const float *xr = logits + (size_t)r * cols;
    int best = 0;
    for (int j = 1; j < cols; j++)
      if (xr[j] > xr[best]) best = j; /* strict: ties keep the first */
    part += best == labels[r] ? 1.0f : 0.0f;
  }
  const float total = group_sum(part, scratch);
  if (get_local_id(0) == 0) correct[0] = total;
}

/* ---- mean squared error ---- */

/* Per-channel sums, y[o] = scale * sum of x over (n, hw) for x (n, c, hw), y (c): a convolution's
 * bias gradient. One work-group per channel o (a few channels would leave most of a device idle
 * with a work-item each), over the channel's n * hw values in flat (img, p) order, split by
 * my_range(). A contiguous run is walked plane by plane without a division per value, four
 * partial sums at a time. */
__kernel void channel_sum(__global const float *x, __global float *y, const int n, const int c, const int hw,
                          const float scale, const int chunk, __local float *scratch) {
  const int o = (int)get_group_id(0);
  const int4 e = my_range(n * hw, chunk);
  float part = 0.0f;
  if (e.z == 1 && e.x < e.y) {
    int img = e.x / hw, p = e.x - img * hw;
    float4 acc = (float4)(0.0f);
    for (int i = e.x; i < e.y; img++, p = 0) {
      const int run = min(hw - p, e.y - i);
      __global const float *src = x + (img * c + o) * hw + p;
      int j = 0;
      for (; j + 4 <= run; j += 4) acc += vload4(0, src + j);
      for (; j < run; j++) part += src[j];
      i += run;
    }
    part += (acc.x + acc.y) + (acc.z + acc.w);
  } else {
    for (int i = e.x; i < e.y; i += e.z) {
      const int img = i / hw;
      part += x[(img * c + o) * hw + i - img * hw];
    }
  }
  const float total = group_sum(part, scratch);
  if (get_local_id(0) == 0) y[o] = scale * total;
}

/* loss[0] = mean of (pred - target)^2 over n. One work-group. */
__kernel void mse(__global const float *pred, __global const float *target, __global float *loss, const int n,
                  const int chunk, __local float *scratch) {
  const int4 e = my_range(n, chunk);
  float part = 0.0f;
  for (int i = e.x; i < e.y; i += e.z) {
    const float d = pred[i] - target[i];
    part += d * d;
  }
  const float total = group_sum(part, scratch);
  if (get_local_id(0) == 0) loss[0] = total / (float)n;
}

/* dpred (n) = 2 (pred - target) dloss[0] / n; one work-item per element. */
__kernel void mse_backward(__global const float *pred, __global const float *target, __global const float *dloss,
                           __global float *dpred, const int n) {
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  dpred[i] = (pred[i] - target[i]) * (2.0f * dloss[0] / (float)n);
}

/* ---- sums and scalars ---- */

/* y[0] = scale * sum of x (n). One work-group. */
__kernel void sum(__global const float *x, __global float *y, const int n, const float scale, const int chunk,
                  __local float *scratch) {
  const int4 e = my_range(n, chunk);
  float part = 0.0f;
  for (int i = e.x; i < e.y; i += e.z) part += x[i];
  const float total = group_sum(part, scratch);
  if (get_local_id(0) == 0) y[0] = scale * total;
}

/* y (n) = scale * s[0]. */
__kernel void broadcast_scalar(__global const float *s, __global float *y, const int n, const float scale) {
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  y[i] = scale * s[0];
}

/* acc[index] += scale * x[0]; one work-item. */
__kernel void accumulate(__global const float *x, __global float *acc, const int index, const float scale) {
  if (get_global_id(0) != 0) return;
  acc[index] += scale * x[0];
}
