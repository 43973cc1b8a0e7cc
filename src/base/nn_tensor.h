/* nn_tensor: a tensor in host memory. The currency between modules that run on the host: data
 * loaders produce them, plots and reports consume them, and the graph engine copies them to and
 * from the device. Row-major, contiguous; shape[0] is the outermost dimension. */
#ifndef NN_TENSOR_H
#define NN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_DIMS 4

typedef enum nn_dtype {
  NN_F32,  /* float, the type of every computed value */
  NN_U8,   /* bytes: images as stored (MNIST is 47 MB as bytes, 188 MB as floats) */
  NN_I32,  /* labels and indices */
} nn_dtype;

typedef struct nn_tensor {
  nn_dtype dtype;
  int ndim;                       /* 0..NN_MAX_DIMS; 0 is a scalar of one element */
  int64_t shape[NN_MAX_DIMS];     /* unused dimensions are 1 */
  size_t count;                   /* product of the shape */
  void *data;                     /* count elements of dtype; owned by the tensor */
} nn_tensor;

size_t nn_dtype_size(nn_dtype dtype);
const char *nn_dtype_name(nn_dtype dtype);  /* "float32", "uint8", "int32" */

/* Fills in shape and count and allocates zeroed data; fails on negative or overflowing sizes. */
int nn_tensor_init(nn_tensor *t, nn_dtype dtype, int ndim, const int64_t *shape);
void nn_tensor_free(nn_tensor *t);
/* Element i (flat index) as a double, whatever the dtype. */
double nn_tensor_get(const nn_tensor *t, size_t i);
/* Stores value as the tensor's dtype; integer types saturate (uint8 0..255) and take NaN as 0. */
void nn_tensor_set(nn_tensor *t, size_t i, double value);
/* "(128, 784)" into buf. */
const char *nn_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

#endif
