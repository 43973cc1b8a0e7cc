/* Optimiser kernels: one fused update per parameter tensor, reading the gradient and the
 * optimiser's state once and writing the parameter and the state once. Host side: nn_op_sgd and
 * nn_op_adam in src/ops/nn_ops.c; the formulas are nn_ops.h's.
 *
 * Layout. p (the parameter), g (its gradient) and the state buffers v, m are dense float32 arrays
 * of n elements. As in elementwise.cl, work-item k owns elements 4k .. 4k+3: one float4 when all
 * four lie inside n, one by one for the tail; global size ceil(n / 4), rounded up by the runtime.
 * The update rules are macros applied to float4 or float (the operators and builtins used are
 * overloaded for both), so the vector and tail paths cannot disagree.
 */

/* Runs STEP(T, LOAD, STORE) on the work-item's 4 elements: with T = float4 and vload4/vstore4
 * when all four are inside n, else element by element with T = float. */
#define LOAD4(buf) vload4(0, (buf) + i)
#define STORE4(buf, val) vstore4((val), 0, (buf) + i)
#define LOAD1(buf) (buf)[i]
#define STORE1(buf, val) ((buf)[i] = (val))
#define FOR_MY_4(n, STEP)                         \
  const int g_ = (int)get_global_id(0);           \
  if (g_ > ((n) - 1) >> 2) return;                \
  const int i0_ = g_ << 2;                        \
  if ((n) - i0_ >= 4) {                           \
    const int i = i0_;                            \
    STEP(float4, LOAD4, STORE4)                   \
  } else {                                        \
    for (int i = i0_; i < (n); i++) {             \
      STEP(float, LOAD1, STORE1)                  \
    }                                             \
  }

/* Plain SGD: p -= lr (g + weight_decay p). */
#define SGD_STEP(T, LOAD, STORE)                    \
  {                                                 \
    const T w = LOAD(p);                            \
    const T d = weight_decay * w + LOAD(g);      \
    STORE(p, w - lr * d);                           \
  }
__kernel void sgd(__global float *p, __global const float *g, const int n, const float lr,
                  const float weight_decay) {
  FOR_MY_4(n, SGD_STEP)
}

/* SGD with momentum: d = g + weight_decay p; v = momentum v + d;
 * p -= lr (nesterov ? d + momentum v : v). */
#define MOMENTUM_STEP(T, LOAD, STORE)                         \
  {                                                           \
    const T w = LOAD(p);                                      \
    const T d = weight_decay * w + LOAD(g);                \
    const T u = momentum * LOAD(v) + d;                    \
    STORE(v, u);                                              \
    STORE(p, w - lr * (nesterov ? d + momentum * u : u));  \
  }
__kernel void sgd_momentum(__global float *p, __global const float *g, __global float *v, const int n,
                           const float lr, const float momentum, const int nesterov, const float weight_decay) {
  FOR_MY_4(n, MOMENTUM_STEP)
}

/* Adam: d = g + weight_decay p; m = b1 m + (1 - b1) d; v = b2 v + (1 - b2) d^2;
 * p -= lr (m / c1) / (sqrt(v / c2) + eps), with the bias corrections c1 = 1 - b1^t and
 * c2 = 1 - b2^t computed on the host in double. */
#define ADAM_STEP(T, LOAD, STORE)                                        \
  {                                                                      \
    const T w = LOAD(p);                                                 \
    const T d = weight_decay * w + LOAD(g);                           \
    const T m1 = beta1 * LOAD(m) + (1.0f - beta1) * d;                \
    const T v1 = beta2 * LOAD(v) + (1.0f - beta2) * d * d;            \
    STORE(m, m1);                                                        \
    STORE(v, v1);                                                        \
    STORE(p, w - lr * (m1 / c1) / (sqrt(v1 / c2) + eps));                \
  }
__kernel void adam(__global float *p, __global const float *g, __global float *m, __global float *v, const int n,
                   const float lr, const float beta1, const float beta2, const float eps, const float c1,
                   const float c2, const float weight_decay) {
  FOR_MY_4(n, ADAM_STEP)
}
