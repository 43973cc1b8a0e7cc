/* nn_ops: the device operations the graph engine is made of. Each function enqueues one or a few
 * kernels (cl/<family>.cl) or GEMMs on the device's in-order queue and returns without waiting.
 * Forward and backward of an op sit side by side (llm.c's habit). Every op is tested against a
 * float64 host reference, and every backward against finite differences (tests/ops/).
 *
 * Conventions:
 * - Buffers are cl_mem holding float32 unless said otherwise; the graph engine passes sub-buffers
 *   of its arena, so there are no offsets. Sizes are int (tensors stay below 2^31 elements).
 * - Shapes are written next to each argument: x (rows, cols) is row-major, rows outermost.
 *   Images are NCHW: (n, c, h, w).
 * - A backward writes (overwrites) the gradient it computes; the graph engine adds gradients
 *   that meet at one node with nn_op_binary(ADD).
 * - Scalars that change between runs (a loss weight, a dropout rate) are 1-element buffers, so
 *   changing them never rebuilds anything; constants fixed when the graph is built are floats.
 * - `what` names the graph node in errors ("relu 'h1' (mlp.lua:7)").
 */
#ifndef NN_OPS_H
#define NN_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "nn_cl.h"

/* ---- elementwise ---- */

typedef enum nn_unary {
  NN_UNARY_RELU,
  NN_UNARY_SIGMOID,
  NN_UNARY_TANH,
  NN_UNARY_EXP,
  NN_UNARY_LOG,
  NN_UNARY_SQUARE,
} nn_unary;

/* y = f(x), x and y (n); y may be x. */
int nn_op_unary(nn_cl *cl, nn_unary f, cl_mem x, cl_mem y, int n, const char *what);
/* dx = dy * f'(x), given x (n), y = f(x) (n) and dy (n). Each f uses whichever of x, y is
 * cheaper (relu, sigmoid, tanh, exp use y; log and square use x, as nn_unary_backward_reads_x
 * says); the other may be NULL. */
int nn_op_unary_backward(nn_cl *cl, nn_unary f, cl_mem x, cl_mem y, cl_mem dy, cl_mem dx, int n,
                         const char *what);
bool nn_unary_backward_reads_x(nn_unary f);

/* y = a * x + b with constants a, b; x and y (n). Scaling, negation, 1 - x. */
int nn_op_affine(nn_cl *cl, cl_mem x, cl_mem y, int n, float a, float b, const char *what);

typedef enum nn_binary { NN_BINARY_ADD, NN_BINARY_SUB, NN_BINARY_MUL, NN_BINARY_DIV } nn_binary;

/* Broadcasting binary op over 4-D shapes (numpy rules, shapes padded on the left with 1):
 * y (dims) = a (a_dims) op b (b_dims), where each a_dims[i], b_dims[i] is dims[i] or 1. */
int nn_op_binary(nn_cl *cl, nn_binary op, cl_mem a, const int a_dims[4], cl_mem b, const int b_dims[4],
                 cl_mem y, const int dims[4], const char *what);
/* y (dims) = f(a (a_dims) + b (b_dims)), broadcasting as nn_op_binary: a bias add and its
 * activation in one pass, the sum never stored (nn_plan runs an add read only by a unary so). */
int nn_op_add_unary(nn_cl *cl, nn_unary f, cl_mem a, const int a_dims[4], cl_mem b, const int b_dims[4], cl_mem y,
                    const int dims[4], const char *what);

/* Sums x (x_dims) over the dimensions where y_dims[i] == 1 != x_dims[i] (the backward of a
 * broadcast: bias gradients, a scalar's gradient). y (y_dims), each y_dims[i] is x_dims[i] or 1.
 * y = scale * sum. */
int nn_op_reduce_to(nn_cl *cl, cl_mem x, const int x_dims[4], cl_mem y, const int y_dims[4], float scale,
                    const char *what);

/* ---- rows: softmax and losses over the last dimension ---- */

/* y = softmax(x) or log_softmax(x) along each row; x, y (rows, cols). Numerically stable. */
int nn_op_softmax(nn_cl *cl, cl_mem x, cl_mem y, int rows, int cols, bool log, const char *what);
/* dx from y = (log_)softmax(x) and dy, all (rows, cols):
 * softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy). */
int nn_op_softmax_backward(nn_cl *cl, cl_mem y, cl_mem dy, cl_mem dx, int rows, int cols, bool log,
                           const char *what);

/* loss (1) = mean over rows of -log softmax(logits)[label]; logits (rows, cols), labels (rows)
 * int32 in [0, cols). Labels are checked on the host before they reach the device; a kernel
 * still never reads outside a row. */
int nn_op_cross_entropy(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem loss, int rows, int cols,
                        const char *what);
/* dlogits (rows, cols) = (softmax(logits) - onehot(labels)) * dloss[0] / rows. */
int nn_op_cross_entropy_backward(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem dloss, cl_mem dlogits,
                                 int rows, int cols, const char *what);
/* correct (1) = number of rows whose argmax (first maximum) equals the label, as a float. */
int nn_op_accuracy(nn_cl *cl, cl_mem logits, cl_mem labels, cl_mem correct, int rows, int cols,
                   const char *what);

/* loss (1) = mean of (pred - target)^2 over n elements; pred, target (n). */
int nn_op_mse(nn_cl *cl, cl_mem pred, cl_mem target, cl_mem loss, int n, const char *what);
/* dpred (n) = 2 (pred - target) * dloss[0] / n. */
int nn_op_mse_backward(nn_cl *cl, cl_mem pred, cl_mem target, cl_mem dloss, cl_mem dpred, int n,
                       const char *what);

/* ---- reductions and scalars ---- */

/* y (1) = scale * sum of x (n). One work-group; for losses and metrics, not for big tensors. */
int nn_op_sum(nn_cl *cl, cl_mem x, cl_mem y, int n, float scale, const char *what);
/* y (n) = scale * s[0]: the backward of nn_op_sum. */
int nn_op_broadcast_scalar(nn_cl *cl, cl_mem s, cl_mem y, int n, float scale, const char *what);
/* acc[index] += scale * x[0]: metrics gathered on the device, read once per progress update. */
int nn_op_accumulate(nn_cl *cl, cl_mem x, cl_mem acc, int index, float scale, const char *what);

/* y (n) = x[offset .. offset + n): a slice of a buffer, such as one row of a matrix (a copy). */
int nn_op_slice(nn_cl *cl, cl_mem x, int offset, cl_mem y, int n, const char *what);

/* ---- dropout ---- */

/* Inverted dropout: y = x * keep / (1 - rate[0]), keep = hash(seed, i) >= rate[0] (a counter-based
 * hash, so the backward recomputes the same mask instead of storing it). x, y (n); rate (1). */
int nn_op_dropout(nn_cl *cl, cl_mem x, cl_mem y, cl_mem rate, int n, uint32_t seed, const char *what);
/* dx = dy * keep / (1 - rate[0]) with the same seed. */
int nn_op_dropout_backward(nn_cl *cl, cl_mem dy, cl_mem dx, cl_mem rate, int n, uint32_t seed, const char *what);

/* ---- data ---- */

typedef enum nn_column_type { NN_COLUMN_U8, NN_COLUMN_I32, NN_COLUMN_F32 } nn_column_type;

/* Gathers n samples of a data set held on the device:
 *   out[b, j] = scale * column[index[start + b] * sample_size + j],  b < n, j < sample_size,
 * column (count, sample_size) of `type`, index (>= start + n) int32. out is float32, or int32
 * (no scaling) when out_int is true (labels). */
int nn_op_gather(nn_cl *cl, cl_mem column, nn_column_type type, int sample_size, cl_mem index, int start, int n,
                 cl_mem out, bool out_int, float scale, const char *what);

/* ---- optimisers: one fused kernel per parameter tensor ---- */

/* SGD: g' = g + weight_decay * p; v = momentum * v + g'; p -= lr * (nesterov ? g' + momentum * v : v).
 * With momentum 0, v may be NULL. p, g, v (n). */
int nn_op_sgd(nn_cl *cl, cl_mem p, cl_mem g, cl_mem v, int n, float lr, float momentum, bool nesterov,
              float weight_decay, const char *what);
/* Adam (Kingma & Ba, with bias correction at step t >= 1, as PyTorch and Keras do):
 * g' = g + weight_decay * p; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).  p, g, m, v (n). */
int nn_op_adam(nn_cl *cl, cl_mem p, cl_mem g, cl_mem m, cl_mem v, int n, float lr, float beta1, float beta2,
               float eps, int t, float weight_decay, const char *what);

/* ---- convolution and pooling (NCHW) ---- */

/* Geometry of a 2-D window op. Padding may differ on each side (Keras 'same' with an even
 * kernel pads one more at the bottom/right). out_h = (h + pad_top + pad_bottom - kh) / stride + 1. */
typedef struct nn_conv_shape {
  int n, c, h, w;       /* input (n, c, h, w) */
  int oc;               /* output channels (convolution only) */
  int kh, kw;           /* window */
  int stride_h, stride_w;
  int pad_top, pad_left, pad_bottom, pad_right;
  int out_h, out_w;
} nn_conv_shape;

/* Fills out_h, out_w; fails (naming `what`) on a window larger than the padded input, a stride
 * below 1 or negative padding. */
int nn_conv_shape_infer(nn_conv_shape *s, const char *what);
/* The three parts of a convolution, which need different workspaces. */
typedef enum nn_conv_part { NN_CONV_FORWARD, NN_CONV_GRAD_INPUT, NN_CONV_GRAD_WEIGHT } nn_conv_part;
/* *floats: the scratch a part needs on cl (GEMM operands for a chunk of images, or operands in
 * oneDNN's layouts); the caller provides a buffer of at least this size (the graph engine plans it
 * with the other tensors). Fails only on a bad NN_CONV or an error of oneDNN's. */
int nn_conv_workspace(nn_cl *cl, const nn_conv_shape *s, nn_conv_part part, size_t *floats, const char *what);
/* *floats: the size of cols, the convolution's input as its forward and weight gradient read it.
 * With im2col + GEMM, the columns matrix (K, n * out_h * out_w), K = c * kh * kw: column
 * img * out_h * out_w + oy * out_w + ox holds the input window under output pixel (oy, ox) of
 * image img, row (ci * kh + ky) * kw + kx, zeros where the window lies in the padding. Where oneDNN
 * runs both parts (nn_ops_conv.c), x itself in oneDNN's blocked layout. */
int nn_conv_cols(nn_cl *cl, const nn_conv_shape *s, size_t *floats, const char *what);

/* cols from x (n, c, h, w): the convolution's input, made once for the forward product and the
 * weight gradient both. */
int nn_op_im2col(nn_cl *cl, const nn_conv_shape *s, cl_mem x, cl_mem cols, const char *what);
/* y (n, oc, out_h, out_w) = w (oc, K) x cols (K, n * out_h * out_w) + bias (oc), in NCHW order:
 * the convolution of x with w; bias may be NULL. With relu, y = max(that, 0), in the same pass. */
int nn_op_conv2d(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, cl_mem w, cl_mem bias, bool relu, cl_mem y,
                 cl_mem workspace, const char *what);
/* dx (n, c, h, w) from dy (n, oc, out_h, out_w) and w. */
int nn_op_conv2d_backward_input(nn_cl *cl, const nn_conv_shape *s, cl_mem dy, cl_mem w, cl_mem dx,
                                cl_mem workspace, const char *what);
/* dw (oc, c, kh, kw) and dbias (oc) (may be NULL: dy summed over n, oh, ow; in the same oneDNN
 * launch where oneDNN runs the weight gradient, else by nn_op_reduce_to) from x's columns cols
 * (nn_op_im2col) and dy. */
int nn_op_conv2d_backward_weight(nn_cl *cl, const nn_conv_shape *s, cl_mem cols, cl_mem dy, cl_mem dw, cl_mem dbias,
                                 cl_mem workspace, const char *what);

/* Max or average pooling; oc is unused (= c). Padding counts as -inf for max and is excluded
 * from the average's count; a window entirely in padding (a pad at least the window, which
 * Keras's padding never makes) gives 0 rather than -inf, so nothing downstream turns into NaN.
 * y (n, c, out_h, out_w). */
int nn_op_pool2d(nn_cl *cl, const nn_conv_shape *s, bool max, cl_mem x, cl_mem y, const char *what);
/* dx (n, c, h, w) from x, y and dy: max routes dy to the first maximum of each window. */
int nn_op_pool2d_backward(nn_cl *cl, const nn_conv_shape *s, bool max, cl_mem x, cl_mem y, cl_mem dy, cl_mem dx,
                          const char *what);

/* Batch normalisation of x (n, c, hw) per channel, over n and hw (hw = h * w for images, 1 for
 * features). Per-channel pairs are one (2, c) buffer: stats = (mean, invstd = 1 / sqrt(var + eps)),
 * sums = (dgamma, dbeta). The variance is biased (divided by n * hw), as PyTorch and Keras
 * normalise with it; Keras also folds it, biased, into the running variance.
 *
 * stats (2, c): training, the batch's, with running_mean and running_var (c) updated as Keras
 * does, running = momentum * running + (1 - momentum) * batch; evaluation, the running ones
 * (x is not read). */
int nn_op_batchnorm_stats(nn_cl *cl, cl_mem x, cl_mem running_mean, cl_mem running_var, cl_mem stats, int n, int c,
                          int hw, float eps, float momentum, bool training, const char *what);
/* y (n, c, hw) = gamma * (x - mean) * invstd + beta; gamma, beta (c). */
int nn_op_batchnorm(nn_cl *cl, cl_mem x, cl_mem stats, cl_mem gamma, cl_mem beta, cl_mem y, int n, int c, int hw,
                    const char *what);
/* sums (2, c) = (dgamma, dbeta) = (sum of dy * xhat, sum of dy) over n and hw; dy (n, c, hw). */
int nn_op_batchnorm_sums(nn_cl *cl, cl_mem x, cl_mem dy, cl_mem stats, cl_mem sums, int n, int c, int hw,
                         const char *what);
/* dx (n, c, hw). Training: through the batch statistics too, which needs sums; evaluation: the
 * statistics are constants, dx = gamma * invstd * dy (sums is not read). */
int nn_op_batchnorm_backward(nn_cl *cl, cl_mem x, cl_mem dy, cl_mem gamma, cl_mem stats, cl_mem sums, cl_mem dx, int n,
                             int c, int hw, bool training, const char *what);

#endif
