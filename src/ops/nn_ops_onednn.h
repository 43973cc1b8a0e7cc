/* oneDNN's direct convolutions, run as host functions in a CPU device's queue: the engine
 * nn_ops_conv.c gives a convolution's parts to where oneDNN has a real kernel for them (see
 * nn_ops_onednn.c). Private to src/ops. */
#ifndef NN_OPS_ONEDNN_H
#define NN_OPS_ONEDNN_H

#include <stdbool.h>
#include <stddef.h>

#include "nn_cl.h"
#include "nn_ops.h"

/* One part of one convolution: the shape (n included), the part, for the forward whether it adds a
 * bias and applies a ReLU, for the weight gradient whether it computes the bias gradient too. */
typedef struct nn_onednn_key {
  nn_conv_shape s;
  nn_conv_part part;
  bool bias, relu;
} nn_onednn_key;

typedef struct nn_onednn_conv nn_onednn_conv;

/* The compiled part for key (made on first use, then kept), or *out = NULL if oneDNN has only a
 * reference or im2col implementation for it. Fails only on an error of oneDNN's past that choice. */
int nn_onednn_conv_get(const nn_onednn_key *key, const nn_onednn_conv **out, const char *what);
/* Bytes of workspace the part needs for its operands in oneDNN's layouts. */
size_t nn_onednn_workspace(const nn_onednn_conv *c);
/* Bytes of the input in the part's source layout (what the preparation writes). */
size_t nn_onednn_source_bytes(const nn_onednn_conv *c);
/* Whether two parts read their source in the same layout. */
bool nn_onednn_same_source(const nn_onednn_conv *a, const nn_onednn_conv *b);
/* The implementation oneDNN chose ("jit:avx512_core"). */
const char *nn_onednn_impl(const nn_onednn_conv *c);

/* Enqueues the part (or, with prepare, the conversion of x into c's source layout) on `mem`:
 *   prepare          x (n, c, h, w), prepared
 *   forward          prepared, w (oc, c, kh, kw), bias (oc) or any buffer if none, y (n, oc, oh, ow), workspace
 *   input gradient   dy (n, oc, oh, ow), w, dx (n, c, h, w), workspace
 *   weight gradient  prepared, dy, dw (oc, c, kh, kw), workspace[, dbias (oc) if key.bias]
 * The caller has checked every buffer's size. */
int nn_onednn_enqueue(nn_cl *cl, const nn_onednn_conv *c, bool prepare, const cl_mem *mem, int nmem,
                      const char *what);

#endif
