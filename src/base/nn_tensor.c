/* nn_tensor: host tensors (see nn_tensor.h). */
#include "nn_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"

size_t nn_dtype_size(nn_dtype dtype) { return dtype == NN_U8 ? 1 : 4; }

const char *nn_dtype_name(nn_dtype dtype) {
  switch (dtype) {
    case NN_F32: return "float32";
    case NN_U8: return "uint8";
    case NN_I32: return "int32";
  }
  return "?";
}

int nn_tensor_init(nn_tensor *t, nn_dtype dtype, int ndim, const int64_t *shape) {
  memset(t, 0, sizeof *t);
  if (ndim < 0 || ndim > NN_MAX_DIMS) return nn_fail("tensor: %d dimensions (at most %d)", ndim, NN_MAX_DIMS);
  size_t count = 1;
  for (int i = 0; i < NN_MAX_DIMS; i++) t->shape[i] = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return nn_fail("tensor: dimension %d is negative (%lld)", i + 1, (long long)shape[i]);
    if (nn_mul_size(count, (size_t)shape[i], &count, "tensor") != 0) return -1;
    t->shape[i] = shape[i];
  }
  size_t bytes;
  if (nn_mul_size(count, nn_dtype_size(dtype), &bytes, "tensor") != 0) return -1;
  t->data = nn_calloc(bytes ? bytes : 1, 1, "tensor");
  if (!t->data) return -1;
  t->dtype = dtype;
  t->ndim = ndim;
  t->count = count;
  return 0;
}

void nn_tensor_free(nn_tensor *t) {
  free(t->data);
  t->data = NULL;
  t->count = 0;
}

double nn_tensor_get(const nn_tensor *t, size_t i) {
  switch (t->dtype) {
    case NN_F32: return ((const float *)t->data)[i];
    case NN_U8: return ((const uint8_t *)t->data)[i];
    case NN_I32: return ((const int32_t *)t->data)[i];
  }
  return 0;
}

/* Converting an out-of-range double (or NaN) to an integer type is undefined behaviour in C. */
void nn_tensor_set(nn_tensor *t, size_t i, double value) {
  if (value != value && t->dtype != NN_F32) value = 0;
  switch (t->dtype) {
    case NN_F32: ((float *)t->data)[i] = (float)value; break;
    case NN_U8: ((uint8_t *)t->data)[i] = (uint8_t)(value < 0 ? 0 : value > 255 ? 255 : value); break;
    case NN_I32:
      ((int32_t *)t->data)[i] = (int32_t)(value < INT32_MIN ? INT32_MIN : value > INT32_MAX ? INT32_MAX : value);
      break;
  }
}

const char *nn_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < ndim && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < size) snprintf(buf + n, size - n, ndim == 1 ? ",)" : ")");
  return buf;
}
