/* batchnorm: batch normalisation per channel of x (n, c, hw) (src/ops/nn_ops_conv.c).
 *
 * Statistics are per channel over the m = n * hw values (b, ch, p). The reductions run one
 * work-group per channel, get_local_size(0) work-items (a power of two): work-item l sums the
 * flat indices l, l + size, ... in order, then a tree in local memory. The elementwise kernels
 * run one work-item per (b, ch) row of hw values. Both shapes keep integer divisions out of the
 * per-element path, which dominates these memory-light kernels on PoCL's CPU device. The variance is two-pass (sum of (x - mean)^2), which
 * keeps its precision when |mean| >> std, and biased (divided by m), as Keras uses it for both
 * the normalisation and the moving variance.
 *
 * Per-channel pairs travel as one (2, c) buffer, so that each is one node of the graph:
 * stats holds the mean, then invstd = 1 / sqrt(var + eps); sums holds sum(dy * xhat), then sum(dy).
 */

/* Sum over the local work-group of v; every work-item gets the result. part: local_size floats. */
static float group_sum(float v, __local float *part) {
  int l = get_local_id(0);
  part[l] = v;
  for (int step = get_local_size(0) / 2; step > 0; step /= 2) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < step) part[l] += part[l + step];
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  float sum = part[0];
  barrier(CLK_LOCAL_MEM_FENCE);  /* part is reused by the next call */
  return sum;
}

/* Walks work-item l's share of channel ch's values (flat index l, l + size, ... over (b, p)),
 * stepping (b, p) without a division per value. Use: for (walk_start(&w, ..); w.b < n; walk_next(&w, hw)). */
typedef struct {
  int b, p;            /* the current value is (b, ch, p) */
  int step_b, step_p;  /* size = step_b * hw + step_p */
} walk;

static walk walk_start(int hw) {
  int l = get_local_id(0), size = get_local_size(0);
  walk w = {l / hw, l % hw, size / hw, size % hw};
  return w;
}

static void walk_next(walk *w, int hw) {
  w->b += w->step_b;
  w->p += w->step_p;
  if (w->p >= hw) w->p -= hw, w->b++;
}

/* Training statistics of the batch into stats (2, c), and
 * running = momentum * running + (1 - momentum) * batch for the mean and the variance.
 * x (n, c, hw); running_mean, running_var (c). */
__kernel void bn_stats(__global const float *x, __global float *stats, __global float *running_mean,
                       __global float *running_var, int n, int c, int hw, float eps, float momentum,
                       __local float *part) {
  int ch = get_group_id(0), m = n * hw;
  float s = 0.0f;
  for (walk w = walk_start(hw); w.b < n; walk_next(&w, hw)) s += x[(w.b * c + ch) * hw + w.p];
  float mu = group_sum(s, part) / (float)m;
  float q = 0.0f;
  for (walk w = walk_start(hw); w.b < n; walk_next(&w, hw)) {
    float d = x[(w.b * c + ch) * hw + w.p] - mu;
    q += d * d;
  }
  float var = group_sum(q, part) / (float)m;
  if (get_local_id(0) == 0) {
    stats[ch] = mu;
    stats[c + ch] = 1.0f / sqrt(var + eps);
    running_mean[ch] = momentum * running_mean[ch] + (1.0f - momentum) * mu;
    running_var[ch] = momentum * running_var[ch] + (1.0f - momentum) * var;
  }
}

/* Evaluation statistics from the running ones: stats (2, c); running_mean, running_var (c). */
__kernel void bn_running_stats(__global const float *running_mean, __global const float *running_var,
                               __global float *stats, int c, float eps) {
  int ch = get_global_id(0);
  if (ch >= c) return;
  stats[ch] = running_mean[ch];
  stats[c + ch] = 1.0f / sqrt(running_var[ch] + eps);
}

/* y = gamma * (x - mean) * invstd + beta, one work-item per row (b, ch).
 * x, y (n, c, hw); stats (2, c); gamma, beta (c). */
__kernel void bn_normalize(__global const float *x, __global float *y, __global const float *stats,
                           __global const float *gamma, __global const float *beta, int n, int c, int hw) {
  int row = get_global_id(0);
  if (row >= n * c) return;
  int ch = row % c;
  float scale = gamma[ch] * stats[c + ch], mu = stats[ch], b = beta[ch];
  for (int p = row * hw; p < (row + 1) * hw; p++) y[p] = (x[p] - mu) * scale + b;
}

/* sums (2, c) = (dgamma, dbeta): sum dy * xhat with xhat = (x - mean) * invstd, and sum dy.
 * x, dy (n, c, hw); stats (2, c). */
__kernel void bn_backward_sums(__global const float *x, __global const float *dy, __global const float *stats,
                               __global float *sums, int n, int c, int hw, __local float *part) {
  int ch = get_group_id(0);
  float mu = stats[ch], is = stats[c + ch], sdy = 0.0f, sdyx = 0.0f;
  for (walk w = walk_start(hw); w.b < n; walk_next(&w, hw)) {
    int at = (w.b * c + ch) * hw + w.p;
    sdy += dy[at];
    sdyx += dy[at] * (x[at] - mu) * is;
  }
  sdy = group_sum(sdy, part);
  sdyx = group_sum(sdyx, part);
  if (get_local_id(0) == 0) {
    sums[ch] = sdyx;
    sums[c + ch] = sdy;
  }
}

/* Training: dx = gamma * invstd * (dy - (dbeta + xhat * dgamma) / m), the gradient through the
 * batch statistics. Evaluation (the statistics are constants): dx = gamma * invstd * dy. One
 * work-item per row (b, ch). x, dy, dx (n, c, hw); gamma (c); stats, sums (2, c). */
__kernel void bn_backward_dx(__global const float *x, __global const float *dy, __global const float *gamma,
                             __global const float *stats, __global const float *sums, __global float *dx,
                             int training, int n, int c, int hw) {
  int row = get_global_id(0);
  if (row >= n * c) return;
  int ch = row % c;
  float m = (float)(n * hw), mu = stats[ch], is = stats[c + ch], scale = gamma[ch] * is;
  float mean_dyx = training ? sums[ch] / m : 0.0f, mean_dy = training ? sums[c + ch] / m : 0.0f;
  for (int p = row * hw; p < (row + 1) * hw; p++) dx[p] = scale * (dy[p] - mean_dy - (x[p] - mu) * is * mean_dyx);
}
