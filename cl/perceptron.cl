/* perceptron: the perceptron rule for many independent binary problems at once (nn_perceptron.h).
 *
 * Layout. x (rows, d) holds every problem's samples: problem p owns rows first[p] ..
 * first[p] + count[p] - 1. y (rows) holds their labels as +1.0f / -1.0f. order (rows) holds, at
 * the same offsets, a permutation of 0 .. count[p] - 1 for problem p: the epoch's visiting order,
 * drawn on the host. wb (P, d + 1) holds each problem's weights then its bias. active (P) is 0 for
 * a problem that has stopped.
 *
 * One work-group per problem. The rule is sequential over samples, so the group works inside each
 * sample. The features are cut into chunks of 8 (float8: eight independent sums, so a dot product
 * is not one long chain of dependent adds, and a CPU compiles them to SIMD) plus a tail of d % 8;
 * work-item l owns chunks l, l + L, l + 2L, ... and tail features tail + l, tail + l + L, ...
 * (L the group size). It computes its part of w·x, the parts are summed in local memory by a
 * tree, and it updates the features it owns. Each feature is read and written by one work-item
 * only, so w needs no barrier; the bias is kept by every work-item, each applying the same updates.
 */

/* Work-item l's part of w·x over the features it owns; w and x hold d floats. A macro because w
 * is __local in one kernel and __global in the other (OpenCL 1.2 has no generic pointers). */
#define PARTIAL_DOT(acc, w, x, d, l, L)                                                        \
  do {                                                                                        \
    const int chunks_ = (d) >> 3;                                                             \
    float8 sum8_ = (float8)(0.0f);                                                            \
    for (int c_ = (l); c_ < chunks_; c_ += (L)) sum8_ += vload8(c_, (w)) * vload8(c_, (x));  \
    float sum_ = ((sum8_.s0 + sum8_.s4) + (sum8_.s1 + sum8_.s5)) +                           \
                 ((sum8_.s2 + sum8_.s6) + (sum8_.s3 + sum8_.s7));                             \
    for (int j_ = (chunks_ << 3) + (l); j_ < (d); j_ += (L)) sum_ += (w)[j_] * (x)[j_];      \
    (acc) = sum_;                                                                             \
  } while (0)

/* The epoch: visit the samples in order, updating w and b after every mistake. mistakes[p] gets
 * the number of updates. w (d), partial (2 L) are local scratch. L must be a power of two. */
__kernel void perceptron_epoch(__global const float *x, __global const float *y,
                               __global const int *order, __global const int *first,
                               __global const int *count, __global const int *active,
                               __global float *wb, __global int *mistakes, const int d,
                               const float eta, __local float *w, __local float *partial) {
  const int p = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
  if (!active[p]) return;  /* the same for the whole group, so no barrier is skipped by some */
  const int row0 = first[p], n = count[p];
  __global float *wp = wb + (size_t)p * (d + 1);
  for (int j = l; j < d; j += L) w[j] = wp[j];
  float b = wp[d];
  int wrong = 0;
  for (int s = 0; s < n; s++) {
    const int i = row0 + order[row0 + s];
    __global const float *xi = x + (size_t)i * d;
    float acc;
    PARTIAL_DOT(acc, w, xi, d, l, L);
    /* Two halves used in turn: sample s + 1 writes the half that sample s did not, so no work-item
     * overwrites partial[0] while another may still be reading it. */
    __local float *part = partial + (s & 1) * L;
    part[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = L >> 1; width > 0; width >>= 1) {
      if (l < width) part[l] += part[l + width];
      barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float yi = y[i];
    if (yi * (part[0] + b) <= 0.0f) {
      const float step = eta * yi;
      const int chunks = d >> 3;
      for (int c = l; c < chunks; c += L) vstore8(vload8(c, w) + step * vload8(c, xi), c, w);
      for (int j = (chunks << 3) + l; j < d; j += L) w[j] += step * xi[j];
      b += step;
      wrong++;
    }
  }
  for (int j = l; j < d; j += L) wp[j] = w[j];
  if (l == 0) {
    wp[d] = b;
    mistakes[p] = wrong;
  }
}

/* errors[p] = how many of problem p's samples its current weights misclassify. Here the group
 * splits the samples, each work-item scoring whole samples; part (L) is local scratch. */
__kernel void perceptron_errors(__global const float *x, __global const float *y,
                                __global const int *first, __global const int *count,
                                __global const int *active, __global const float *wb,
                                __global int *errors, const int d, __local int *part) {
  const int p = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
  if (!active[p]) return;
  const int row0 = first[p], n = count[p];
  __global const float *wp = wb + (size_t)p * (d + 1);
  const float b = wp[d];
  int wrong = 0;
  for (int s = l; s < n; s += L) {
    __global const float *xi = x + (size_t)(row0 + s) * d;
    float acc;
    PARTIAL_DOT(acc, wp, xi, d, 0, 1);
    wrong += y[row0 + s] * (acc + b) <= 0.0f;
  }
  part[l] = wrong;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int width = L >> 1; width > 0; width >>= 1) {
    if (l < width) part[l] += part[l + width];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l == 0) errors[p] = part[0];
}
