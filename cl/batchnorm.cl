/* batchnorm: batch normalisation per channel of x (n, c, hw) (src/ops/nn_ops_conv.c).
 *
 * Statistics are per channel over the m = n * hw values (b, ch, p). The reductions run one
 * work-group per channel, get_local_size(0) work-items (a power of two): work-item l sums the
 * flat indices l, l + size, ... in order, then a tree in local memory. The elementwise kernels
 * run one work-item per (b, ch) row of hw values. Both shapes keep integer divisions out of the
 * per-element path, which dominates these memory-light kernels on PoCL's CPU device. The variance is two-pass (sum of (x - mean)^2), which
 * keeps its precision when |mean| >> std, and biased (divided by m), as Keras uses it for both
 * the normalisation and the moving variance.
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

/* Training statistics: mean, invstd = 1 / sqrt(var + eps), and
 * running = momentum * running + (1 - momentum) * batch for mean and var.
 * x (n, c, hw); mean, invstd, running_mean, running_var (c). */
__kernel void bn_stats(__global const float *x, __global float *mean, __global float *invstd,
                       __global float *running_mean, __global float *running_var, int n, int c, int hw,
                       float eps, float momentum, __local float *part) {
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
    mean[ch] = mu;
    invstd[ch] = 1.0f / sqrt(var + eps);
    running_mean[ch] = momentum * running_mean[ch] + (1.0f - momentum) * mu;
    running_var[ch] = momentum * running_var[ch] + (1.0f - momentum) * var;
  }
}

/* y = gamma * (x - mean) * scale + beta, one work-item per row (b, ch). In training `stat` is the
 * batch invstd; in evaluation (from_var) it is the running variance and scale = 1/sqrt(var + eps).
 * x, y (n, c, hw); gamma, beta, mean, stat (c). */
__kernel void bn_normalize(__global const float *x, __global float *y, __global const float *gamma,
                           __global const float *beta, __global const float *mean, __global const float *stat,
                           int from_var, float eps, int n, int c, int hw) {
  int row = get_global_id(0);
  if (row >= n * c) return;
  int ch = row % c;
  float scale = gamma[ch] * (from_var ? 1.0f / sqrt(stat[ch] + eps) : stat[ch]), mu = mean[ch], b = beta[ch];
  for (int p = row * hw; p < (row + 1) * hw; p++) y[p] = (x[p] - mu) * scale + b;
}

/* dbeta = sum dy, dgamma = sum dy * xhat with xhat = (x - mean) * invstd.
 * x, dy (n, c, hw); mean, invstd, dgamma, dbeta (c). */
__kernel void bn_backward_sums(__global const float *x, __global const float *dy, __global const float *mean,
                               __global const float *invstd, __global float *dgamma, __global float *dbeta, int n,
                               int c, int hw, __local float *part) {
  int ch = get_group_id(0);
  float mu = mean[ch], is = invstd[ch], sdy = 0.0f, sdyx = 0.0f;
  for (walk w = walk_start(hw); w.b < n; walk_next(&w, hw)) {
    int at = (w.b * c + ch) * hw + w.p;
    sdy += dy[at];
    sdyx += dy[at] * (x[at] - mu) * is;
  }
  sdy = group_sum(sdy, part);
  sdyx = group_sum(sdyx, part);
  if (get_local_id(0) == 0) {
    dbeta[ch] = sdy;
    dgamma[ch] = sdyx;
  }
}

/* dx = gamma * invstd * (dy - (dbeta + xhat * dgamma) / m), the gradient through the batch
 * statistics; one work-item per row (b, ch). x, dy, dx (n, c, hw); gamma, mean, invstd, dgamma,
 * dbeta (c). */
__kernel void bn_backward_dx(__global const float *x, __global const float *dy, __global const float *gamma,
                             __global const float *mean, __global const float *invstd,
                             __global const float *dgamma, __global const float *dbeta, __global float *dx, int n,
                             int c, int hw) {
  int row = get_global_id(0);
  if (row >= n * c) return;
  int ch = row % c;
  float m = (float)(n * hw), mu = mean[ch], is = invstd[ch], scale = gamma[ch] * is;
  float mean_dy = dbeta[ch] / m, mean_dyx = dgamma[ch] / m;
  for (int p = row * hw; p < (row + 1) * hw; p++) dx[p] = scale * (dy[p] - mean_dy - (x[p] - mu) * is * mean_dyx);
}
