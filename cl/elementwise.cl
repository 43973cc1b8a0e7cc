/* Elementwise kernels: unary functions and their derivatives, y = a x + b, broadcasting binary
 * ops, sums over broadcast dimensions (reduce_to) and dropout. Host side: src/ops/nn_ops.c.
 *
 * Layout. Every buffer is a dense float32 array.
 * - Flat kernels (unary, affine, same-shape binary): work-item g owns the 4 elements 4g .. 4g+3,
 *   read and written as one float4 when all four lie inside n, one by one for the tail of the
 *   last work-item. The global size is ceil(n / 4); the runtime rounds it up to the work-group
 *   size, so work-items starting past n return at once. vload4/vstore4 need only float
 *   alignment, and in-place use (y == x) is safe because each work-item reads its elements
 *   before writing them. On PoCL float4 ran relu about twice as fast as one float per
 *   work-item (19 against 11 GB/s); GPUs load 16 bytes per work-item as readily as 4.
 * - Broadcasting kernels see 4-D shapes (d0, d1, d2, d3), d3 innermost, after the host has merged
 *   adjacent dimensions that broadcast alike (so (n, c, h, w) + (1, c, 1, 1) arrives as
 *   (1, n, c, h*w) + (1, 1, c, 1)). Operand strides are int4 (d0 .. d3 strides), 0 on the
 *   dimensions an operand is broadcast along. The binary ops and reduce_to_rows run a 2-D range:
 *   dimension 1 is the row (i0, i1, i2), dimension 0 a piece of `len` elements of it along d3,
 *   where the host picks len per device (see row_geometry in nn_ops.c): whole rows on a CPU,
 *   whose compiler vectorises a work-item's loop but not a loop across work-items, and single
 *   elements on a GPU, where adjacent work-items must touch adjacent addresses. reduce_to runs
 *   one work-item per output element.
 * - Dropout: one work-item per element; the mask is a hash of (seed, element index), so the
 *   backward pass recomputes it instead of storing it.
 * Sizes are int: tensors stay below 2^31 elements (nn_ops.h), and index arithmetic avoids
 * forming 4g + 4 for the last work-items so it never overflows.
 */

/* ---- flat kernels ---- */

/* Kernel `name`(in.., out, n) applying the expression macro F to a float4 and to a float: the
 * element-wise math builtins and operators below are overloaded for both. */
#define FLAT1(name, F)                                                                     \
  __kernel void name(__global const float *x, __global float *y, const int n) {            \
    const int g = (int)get_global_id(0);                                                   \
    if (g > (n - 1) >> 2) return;                                                          \
    const int i = g << 2;                                                                  \
    if (n - i >= 4) {                                                                      \
      const float4 v = vload4(0, x + i);                                                   \
      vstore4(F(v), 0, y + i);                                                             \
    } else {                                                                               \
      for (int j = i; j < n; j++) {                                                        \
        const float v = x[j];                                                              \
        y[j] = F(v);                                                                       \
      }                                                                                    \
    }                                                                                      \
  }

/* Two inputs: u and w (x and dy for a derivative, a and b for a binary op). */
#define FLAT2(name, F)                                                                     \
  __kernel void name(__global const float *u, __global const float *w, __global float *y,  \
                     const int n) {                                                        \
    const int g = (int)get_global_id(0);                                                   \
    if (g > (n - 1) >> 2) return;                                                          \
    const int i = g << 2;                                                                  \
    if (n - i >= 4) {                                                                      \
      const float4 a = vload4(0, u + i), b = vload4(0, w + i);                             \
      vstore4(F(a, b), 0, y + i);                                                          \
    } else {                                                                               \
      for (int j = i; j < n; j++) {                                                        \
        const float a = u[j], b = w[j];                                                    \
        y[j] = F(a, b);                                                                    \
      }                                                                                    \
    }                                                                                      \
  }

/* y = f(x). Sigmoid as 1 / (1 + e^-x): e^-x overflows to inf for x < -88 and gives exactly 0,
 * never NaN. */
#define RELU(v) fmax(v, 0.0f)
#define SIGMOID(v) (1.0f / (1.0f + exp(-(v))))
#define SQUARE(v) ((v) * (v))
FLAT1(unary_relu, RELU)
FLAT1(unary_sigmoid, SIGMOID)
FLAT1(unary_tanh, tanh)
FLAT1(unary_exp, exp)
FLAT1(unary_log, log)
FLAT1(unary_square, SQUARE)

/* dx = dy * f'(x), from whichever of x, y = f(x) is cheaper: `s` below is y for relu, sigmoid,
 * tanh and exp, and x for log and square. relu's y is never negative, so sign(y) is its step
 * (0 at y = 0, where PyTorch's relu also has derivative 0). */
#define RELU_GRAD(s, dy) ((dy) * sign(s))
#define SIGMOID_GRAD(s, dy) ((dy) * (s) * (1.0f - (s)))
#define TANH_GRAD(s, dy) ((dy) * (1.0f - (s) * (s)))
#define EXP_GRAD(s, dy) ((dy) * (s))
#define LOG_GRAD(s, dy) ((dy) / (s))
#define SQUARE_GRAD(s, dy) (2.0f * (s) * (dy))
FLAT2(unary_relu_backward, RELU_GRAD)
FLAT2(unary_sigmoid_backward, SIGMOID_GRAD)
FLAT2(unary_tanh_backward, TANH_GRAD)
FLAT2(unary_exp_backward, EXP_GRAD)
FLAT2(unary_log_backward, LOG_GRAD)
FLAT2(unary_square_backward, SQUARE_GRAD)

#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL(a, b) ((a) * (b))
#define DIV(a, b) ((a) / (b))
FLAT2(binary_add, ADD)
FLAT2(binary_sub, SUB)
FLAT2(binary_mul, MUL)
FLAT2(binary_div, DIV)

/* y = a x + b. */
__kernel void affine(__global const float *x, __global float *y, const int n, const float a, const float b) {
  const int g = (int)get_global_id(0);
  if (g > (n - 1) >> 2) return;
  const int i = g << 2;
  if (n - i >= 4) {
    vstore4(a * vload4(0, x + i) + b, 0, y + i);
  } else {
    for (int j = i; j < n; j++) y[j] = a * x[j] + b;
  }
}

/* ---- broadcasting ---- */

int dot4(const int4 c, const int4 s) { return c.x * s.x + c.y * s.y + c.z * s.z + c.w * s.w; }

/* The coordinates (d0, d1, d2) of row r of a shape (d0, d1, d2, d3), in x, y, z; w is 0. */
int4 row_coords(const int r, const int d1, const int d2) {
  return (int4)(r / (d1 * d2), r / d2 % d1, r % d2, 0);
}

/* y (d0, d1, d2, d3) = a op b, a and b read at strides sa, sb (0 where broadcast). Work-item
 * (x, r) computes elements [x len, x len + len) of row r = (i0, i1, i2), so the index divisions
 * happen once per row: on a CPU len is a whole row (or a long piece of one), a loop the
 * compiler vectorises; on a GPU len is 1 and adjacent work-items take adjacent elements. */
#define BINARY_BCAST(name, OP)                                                                \
  __kernel void name(__global const float *a, const int4 sa, __global const float *b,         \
                     const int4 sb, __global float *y, const int d1, const int d2,            \
                     const int d3, const int rows, const int len) {                           \
    const int r = (int)get_global_id(1);                                                      \
    if (r >= rows) return;                                                                    \
    const int4 c = row_coords(r, d1, d2);                                                     \
    __global const float *ar = a + dot4(c, sa), *br = b + dot4(c, sb);                       \
    __global float *yr = y + r * d3;                                                          \
    const int j0 = (int)get_global_id(0) * len, j1 = j0 + min(len, d3 - j0);                  \
    for (int j = j0; j < j1; j++) yr[j] = OP(ar[j * sa.w], br[j * sb.w]);                     \
  }
BINARY_BCAST(binary_add_bcast, ADD)
BINARY_BCAST(binary_sub_bcast, SUB)
BINARY_BCAST(binary_mul_bcast, MUL)
BINARY_BCAST(binary_div_bcast, DIV)

/* y = f(a + b), flat and broadcasting: a bias add and the activation after it in one pass
 * (nn_op_add_unary), so the sum is neither written nor read back. */
#define ADD_RELU(a, b) RELU((a) + (b))
#define ADD_SIGMOID(a, b) SIGMOID((a) + (b))
#define ADD_TANH(a, b) tanh((a) + (b))
#define ADD_EXP(a, b) exp((a) + (b))
#define ADD_LOG(a, b) log((a) + (b))
#define ADD_SQUARE(a, b) SQUARE((a) + (b))
#define ADD_UNARY(f, F) FLAT2(add_##f, F) BINARY_BCAST(add_##f##_bcast, F)
ADD_UNARY(relu, ADD_RELU)
ADD_UNARY(sigmoid, ADD_SIGMOID)
ADD_UNARY(tanh, ADD_TANH)
ADD_UNARY(exp, ADD_EXP)
ADD_UNARY(log, ADD_LOG)
ADD_UNARY(square, ADD_SQUARE)

/* ---- sums over broadcast dimensions ---- */

/* Row-major strides of the 4-D shape d. */
int4 strides4(const int4 d) { return (int4)(d.y * d.z * d.w, d.z * d.w, d.w, 1); }

/* Loop counts over x (xd) for one element of y (yd): x's size on the reduced dimensions (yd 1),
 * 1 on the kept ones. */
int4 reduced4(const int4 xd, const int4 yd) { return select((int4)1, xd, yd == (int4)1); }

/* y (yd) = scale * sum of x (xd) over the dimensions where yd is 1 and xd is not; y has total
 * elements. Work-item o owns y[o] and loops over the x elements that reduce into it, summing the
 * innermost dimension into a partial sum first (a two-level sum: the rounding error grows with
 * the longer of the two runs, not with the whole count). When x's innermost dimension is kept
 * (bias gradients), adjacent work-items read adjacent x elements: coalesced on a GPU. */
__kernel void reduce_to(__global const float *x, const int4 xd, __global float *y, const int4 yd,
                        const float scale, const int total) {
  const int o = (int)get_global_id(0);
  if (o >= total) return;
  const int4 s = strides4(xd), r = reduced4(xd, yd);
  /* y's coordinates are x's on the kept dimensions and 0 on the reduced ones. */
  const int base = dot4(row_coords(o / yd.w, yd.y, yd.z), s) + o % yd.w;
  float acc = 0.0f;
  for (int i0 = 0; i0 < r.x; i0++)
    for (int i1 = 0; i1 < r.y; i1++)
      for (int i2 = 0; i2 < r.z; i2++) {
        __global const float *p = x + base + i0 * s.x + i1 * s.y + i2 * s.z;
        float part = 0.0f;
        for (int i3 = 0; i3 < r.w; i3++) part += p[i3];
        acc += part;
      }
  y[o] = scale * acc;
}

/* The same sum for CPUs when x's innermost dimension d3 is kept, where reduce_to's work-items
 * would each walk a column of x (a cache line per element; 12x slower on PoCL for a bias
 * gradient). Here y is seen as rows of d3, and work-item (x, q) owns elements
 * [x len, x len + len) of y's row q: it sweeps the reduced dimensions in its outer loops and
 * adds contiguous runs of x into y in its inner loop, which the compiler vectorises; y's run
 * stays in L1 as the accumulator. Each output is a plain running sum, as in reduce_to when the
 * innermost dimension is kept. */
__kernel void reduce_to_rows(__global const float *x, const int4 xd, __global float *y, const int4 yd,
                             const float scale, const int rows, const int len) {
  const int q = (int)get_global_id(1);
  if (q >= rows) return;
  const int4 s = strides4(xd), r = reduced4(xd, yd);
  __global const float *xq = x + dot4(row_coords(q, yd.y, yd.z), s);
  const int j0 = (int)get_global_id(0) * len, j1 = j0 + min(len, xd.w - j0);
  __global float *yq = y + q * xd.w;
  for (int j = j0; j < j1; j++) yq[j] = 0.0f;
  for (int i0 = 0; i0 < r.x; i0++)
    for (int i1 = 0; i1 < r.y; i1++)
      for (int i2 = 0; i2 < r.z; i2++) {
        __global const float *p = xq + i0 * s.x + i1 * s.y + i2 * s.z;
        for (int j = j0; j < j1; j++) yq[j] += p[j];
      }
  for (int j = j0; j < j1; j++) yq[j] *= scale;
}

/* ---- dropout ---- */

/* MurmurHash3's 32-bit hash of one 4-byte block (the counter) with the seed as its key
 * (Appleby): every output bit depends on every bit of both, so the masks of two seeds, or of
 * neighbouring elements, are uncorrelated. Reproduced on the host by the tests. */
uint murmur3_32(const uint seed, uint k) {
  k *= 0xcc9e2d51u;
  k = rotate(k, 15u);
  k *= 0x1b873593u;
  uint h = seed ^ k;
  h = rotate(h, 13u);
  h = h * 5u + 0xe6546b64u;
  h ^= 4u; /* the length in bytes */
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* y = x * keep / (1 - rate[0]), keep = u >= rate[0] with u = the hash's top 24 bits / 2^24,
 * uniform in [0, 1) and exact in float. Rate 0 keeps everything; rate 1 drops everything
 * (scale 0 instead of 1/0, so y is 0 and not NaN). The same kernel is the backward pass
 * (dx from dy with the forward's seed). x, y (n); rate (1). */
__kernel void dropout(__global const float *x, __global float *y, __global const float *rate, const int n,
                      const uint seed) {
  /* Read before the bound check: a load behind the branch stops PoCL from vectorising the
   * kernel (6x slower). Every work-item may read it: rate always holds one element. */
  const float p = rate[0];
  const int i = (int)get_global_id(0);
  if (i >= n) return;
  const float u = (float)(murmur3_32(seed, (uint)i) >> 8) * (1.0f / 16777216.0f);
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  y[i] = u >= p ? x[i] * scale : 0.0f;
}
