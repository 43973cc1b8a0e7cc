/* Data kernels: gathering a batch of samples from a data set held on the device, so a training
 * step uploads nothing. Host side: nn_op_gather in src/ops/nn_ops.c.
 *
 * Layout. A column is a data set's field, (count, sample_size) row-major in its stored type
 * (uint8 images, int32 labels, float32 features); index is int32, a permutation of the samples
 * (the epoch's shuffle). Output (n, sample_size), row-major:
 *   out[b * sample_size + j] = column[index[start + b] * sample_size + j].
 * A 2-D range as in elementwise.cl's broadcasting kernels: dimension 1 is the output row b,
 * dimension 0 a piece of `len` elements of it, whole rows on a CPU (a contiguous copy the
 * compiler vectorises) and single elements on a GPU (adjacent work-items, adjacent bytes).
 * A sample number outside [0, count) is never read: its row becomes NaN (float output) or -1
 * (int output, which cross-entropy then turns into a NaN loss), so a bad index is visible.
 */

/* Kernel `name` reading IN_T and writing out = CONVERT(value) of OUT_T, or BAD. */
#define GATHER(name, IN_T, OUT_T, CONVERT, BAD)                                                     \
  __kernel void name(__global const IN_T *column, const int count, const int sample_size,           \
                     __global const int *index, const int start, const int n, __global OUT_T *out,  \
                     const float scale, const int len) {                                            \
    const int b = (int)get_global_id(1);                                                            \
    if (b >= n) return;                                                                             \
    const int s = index[start + b];                                                                 \
    const int j0 = (int)get_global_id(0) * len, j1 = j0 + min(len, sample_size - j0);               \
    __global OUT_T *o = out + (size_t)b * sample_size;                                              \
    if (s >= 0 && s < count) {                                                                      \
      __global const IN_T *src = column + (size_t)s * sample_size;                                 \
      for (int j = j0; j < j1; j++) o[j] = CONVERT(src[j]);                                         \
    } else {                                                                                        \
      for (int j = j0; j < j1; j++) o[j] = BAD;                                                     \
    }                                                                                               \
  }

/* Features: float32, scaled (1/255 turns bytes into [0, 1]). Labels: int32, unscaled. */
#define TO_FLOAT(v) (scale * (float)(v))
#define TO_INT(v) ((int)(v))
GATHER(gather_u8_f32, uchar, float, TO_FLOAT, NAN)
GATHER(gather_i32_f32, int, float, TO_FLOAT, NAN)
GATHER(gather_f32_f32, float, float, TO_FLOAT, NAN)
GATHER(gather_u8_i32, uchar, int, TO_INT, -1)
GATHER(gather_i32_i32, int, int, TO_INT, -1)
