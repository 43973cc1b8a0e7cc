/* Optimiser kernels: one fused update per parameter tensor, reading the gradient and the
 * optimiser's state once and writing the parameter and the state once. Host side: nn_op_sgd and
 * nn_op_adam in src/ops/nn_ops.c; the formulas are nn_ops.h's.
 *
 * Layout. p (the parameter), g (its gradient) and the state buffers v, m are dense float32 arrays
 * of n elements, one element per work-item. PoCL vectorises a work-group's loop over its
 * work-items into 16-wide AVX-512 code; Adam written on float4 per work-item ran 1.3-1.6x slower
 * there (bench/README.md, 2026-12-03). GPUs coalesce adjacent work-items' loads.
 */

/* Plain SGD: p -= lr (g + weight_decay p). */
__kernel void sgd(__global float *p, __global const float *g, const int n, const float lr,
                  const float weight_decay) {
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  const float w = p[i];
  p[i] = w - lr * (weight_decay * w + g[i]);
}

/* SGD with momentum: d = g + weight_decay p; v = momentum v + d;
 * p -= lr (nesterov ? d + momentum v : v). */
__kernel void sgd_momentum(__global float *p, __global const float *g, __global float *v, const int n,
                           const float lr, const float momentum, const int nesterov, const float weight_decay) {
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  const float w = p[i];
  const float d = weight_decay * w + g[i];
  const float u = momentum * v[i] + d;
  v[i] = u;
  p[i] = w - lr * (nesterov ? d + momentum * u : u);
}

/* Adam: d = g + weight_decay p; m = b1 m + (1 - b1) d; v = b2 v + (1 - b2) d^2;
 * p -= step m / (sqrt(v) rsqrt_c2 + eps), where step = lr / c1 and rsqrt_c2 = 1 / sqrt(c2) with
 * the bias corrections c1 = 1 - b1^t, c2 = 1 - b2^t, all computed on the host in double. This is
 * PyTorch's arrangement of lr (m / c1) / (sqrt(v / c2) + eps): one division and one square root
 * an element, where three divisions made the kernel 1.4x slower on a CPU. */
__kernel void adam(__global float *p, __global const float *g, __global float *m, __global float *v, const int n,
                   const float step, const float beta1, const float beta2, const float eps, const float rsqrt_c2,
                   const float weight_decay) {
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  const float w = p[i];
  const float d = weight_decay * w + g[i];
  const float m1 = beta1 * m[i] + (1.0f - beta1) * d;
  const float v1 = beta2 * v[i] + (1.0f - beta2) * d * d;
  m[i] = m1;
  v[i] = v1;
  p[i] = w - step * m1 / (sqrt(v1) * rsqrt_c2 + eps);
}
