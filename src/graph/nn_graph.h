/* nn_graph: the static computation graph. A Lua script records nodes; nothing is computed until a
 * plan built from the graph (nn_plan.h) runs on a device.
 *
 * The graph is append-only and its node ids are a topological order: every input of a node has a
 * smaller id. Autodiff (nn_graph_backward) appends the backward nodes to the same graph, so a
 * gradient is a node like any other: it can be planned, run and read like an activation.
 *
 * Shapes. A node's shape has ndim <= 4 dimensions. A *batched* node's first dimension is the batch,
 * which is only known when a plan runs: shape[0] is then 0 in the graph and printed as "?".
 * Parameters, scalars and losses are not batched.
 *
 * Errors name the node and the script position where it was created:
 *   "mlp.lua:7: linear 'fc2': input has 783 features, weight expects 784".
 */
#ifndef NN_GRAPH_H
#define NN_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "nn_ops.h"
#include "nn_tensor.h"

typedef enum nn_opcode {
  /* leaves */
  NN_INPUT,         /* fed before each run: data, labels */
  NN_PARAM,         /* parameter, lives with the model: trainable, or state such as running statistics */
  NN_SCALAR,        /* 1 value set at run time (a loss weight, a dropout rate): never recompiles */
  NN_CONST,         /* a constant fill (the seed 1 of a backward pass) */
  /* forward ops */
  NN_MATMUL,        /* (rows, k) x (k, cols); flags transpose either operand */
  NN_UNARY,         /* relu, sigmoid, tanh, exp, log, square */
  NN_AFFINE,        /* a * x + b, constants */
  NN_BINARY,        /* add, sub, mul, div with broadcasting */
  NN_REDUCE_TO,     /* sum over broadcast dimensions (backward of a broadcast) */
  NN_SUM,           /* sum (or mean, by scale) of all elements: a 1-element result */
  NN_BROADCAST,     /* fill a shape with scale * a 1-element input (backward of NN_SUM) */
  NN_SOFTMAX,       /* over the last dimension; attr log for log-softmax */
  NN_CROSS_ENTROPY, /* mean cross-entropy of logits against int labels */
  NN_ACCURACY,      /* number of correct argmaxes (a metric: no gradient) */
  NN_MSE,           /* mean squared error */
  NN_DROPOUT,       /* rate from a scalar node; identity in evaluation plans */
  NN_RESHAPE,       /* a view: same storage, another shape */
  NN_IM2COL,        /* x (n,c,h,w) -> its columns (K, n*oh*ow) (nn_conv_cols), the conv's product operand;
                     * a batched node of K*oh*ow values per image, stored column-major by image. Where
                     * oneDNN runs the conv, it holds x in oneDNN's layout instead (nn_ops_onednn.h),
                     * sized by nn_conv_cols, and reading it is an error */
  NN_CONV2D,        /* x (n,c,h,w), weight (oc,c,kh,kw), cols (x's NN_IM2COL), bias (oc) */
  NN_POOL2D,        /* max or average */
  NN_BATCHNORM_STATS, /* (x, running_mean, running_var) -> (2, c): mean and invstd, of the batch in training
                       * plans (which update the running ones), the running ones in evaluation plans */
  NN_BATCHNORM,     /* (x, stats, gamma, beta): x (n, c, ...) normalised per channel */
  /* backward ops */
  NN_UNARY_GRAD,    /* (s, dy): s is x or y = f(x), the one f's derivative reads (nn_unary_backward_reads_x) */
  NN_SOFTMAX_GRAD,  /* (y, dy) */
  NN_CE_GRAD,       /* (logits, labels, dloss) */
  NN_MSE_GRAD,      /* (pred, target, dloss) */
  NN_DROPOUT_GRAD,  /* (dy, rate); the mask is recomputed from the forward node's seed */
  NN_CONV2D_GRAD_INPUT,   /* (dy, weight) */
  NN_CONV2D_GRAD_WEIGHT,  /* (x, dy) */
  NN_POOL2D_GRAD,   /* (x, y, dy) */
  NN_BATCHNORM_SUMS,  /* (x, dy, stats) -> (2, c): dgamma and dbeta, which dx needs in training */
  NN_BATCHNORM_GRAD,  /* (x, dy, gamma, stats, sums) -> dx */
  NN_ROW,           /* row `kind` of a (rows, cols) input, copied: dgamma and dbeta out of the sums */
  NN_OPCODE_COUNT
} nn_opcode;

#define NN_MAX_INPUTS 5

typedef struct nn_node {
  nn_opcode op;
  int inputs[NN_MAX_INPUTS];
  int ninputs;
  nn_dtype dtype;              /* NN_F32, or NN_I32 for labels */
  bool batched;                /* shape[0] is the run's batch size */
  int ndim;
  int64_t shape[NN_MAX_DIMS];  /* shape[0] is 0 when batched */
  char name[64];               /* "fc1.weight"; unique among named nodes */
  char where[160];             /* script position that created it: "mlp.lua:7" */
  /* attributes, by op */
  bool trans_a, trans_b;       /* NN_MATMUL */
  int kind;                    /* nn_unary, nn_binary, pool max(1)/avg(0), softmax log(1) */
  float a, b;                  /* NN_AFFINE a*x+b; NN_SUM, NN_BROADCAST scale in a; NN_CONST value in a;
                                * NN_BATCHNORM_STATS eps in a, momentum in b */
  int reduce_dims[4];          /* NN_REDUCE_TO / NN_BINARY operands: 4-D kernel dims, -1 = batch */
  int a_dims[4], b_dims[4];    /* NN_BINARY: operand dims aligned to 4-D, -1 = batch */
  nn_conv_shape conv;          /* NN_CONV2D, NN_POOL2D and their gradients; n is set per run */
  int forward;                 /* NN_DROPOUT_GRAD: the forward dropout node (its seed) */
  int init;                    /* NN_PARAM: nn_init kind */
  bool trainable;              /* NN_PARAM: the optimiser updates it (not running statistics) */
  double init_scale;           /* NN_PARAM: std or limit computed from fans at creation */
  float value;                 /* NN_SCALAR: current value */
} nn_node;

/* Parameter initialisers (Keras names; defaults: kernels glorot_uniform, biases zeros). */
typedef enum nn_init {
  NN_INIT_ZEROS,
  NN_INIT_ONES,
  NN_INIT_GLOROT_UNIFORM,  /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
  NN_INIT_GLOROT_NORMAL,   /* N(0, 2 / (fan_in + fan_out)), truncated at 2 std like Keras */
  NN_INIT_HE_UNIFORM,      /* U(-l, l), l = sqrt(6 / fan_in) */
  NN_INIT_HE_NORMAL,       /* N(0, 2 / fan_in), truncated at 2 std */
  NN_INIT_UNIFORM,         /* U(-scale, scale) */
  NN_INIT_NORMAL,          /* N(0, scale^2) */
} nn_init;

typedef struct nn_graph {
  nn_node *nodes;
  int count, capacity;
  uint64_t version;  /* bumps on every append: plans compiled earlier stay valid (ids are stable) */
} nn_graph;

nn_graph *nn_graph_new(void);
void nn_graph_free(nn_graph *g);

/* Node constructors. Each checks its inputs and infers the shape; on error it returns -1 with a
 * message "<where>: <op> '<name>': ...". `name` may be NULL or "" (the node is then named by op
 * and id); `where` is the script position. They return the new node's id. */
int nn_graph_input(nn_graph *g, const char *name, nn_dtype dtype, int ndim, const int64_t *shape, const char *where);
/* A non-trainable parameter is saved and loaded with the others but left alone by the optimiser. */
int nn_graph_param(nn_graph *g, const char *name, int ndim, const int64_t *shape, nn_init init, double scale,
                   int64_t fan_in, int64_t fan_out, bool trainable, const char *where);
int nn_graph_scalar(nn_graph *g, const char *name, float value, const char *where);
int nn_graph_const(nn_graph *g, float value, const char *where);
int nn_graph_matmul(nn_graph *g, int a, int b, bool trans_a, bool trans_b, const char *name, const char *where);
int nn_graph_unary(nn_graph *g, nn_unary f, int x, const char *name, const char *where);
int nn_graph_affine(nn_graph *g, int x, float a, float b, const char *name, const char *where);
int nn_graph_binary(nn_graph *g, nn_binary op, int a, int b, const char *name, const char *where);
int nn_graph_sum(nn_graph *g, int x, bool mean, const char *name, const char *where);
int nn_graph_softmax(nn_graph *g, int x, bool log, const char *name, const char *where);
int nn_graph_cross_entropy(nn_graph *g, int logits, int labels, const char *name, const char *where);
int nn_graph_accuracy(nn_graph *g, int logits, int labels, const char *name, const char *where);
int nn_graph_mse(nn_graph *g, int pred, int target, const char *name, const char *where);
int nn_graph_dropout(nn_graph *g, int x, int rate, const char *name, const char *where);
/* shape excludes the batch dimension when x is batched; one entry may be -1 (inferred). */
int nn_graph_reshape(nn_graph *g, int x, int ndim, const int64_t *shape, const char *name, const char *where);
/* x (n, c, h, w) batched; weight (oc, c, kh, kw); bias (oc) or -1. Padding as in nn_conv_shape. */
int nn_graph_conv2d(nn_graph *g, int x, int weight, int bias, int stride_h, int stride_w, const int pad[4],
                    const char *name, const char *where);
int nn_graph_pool2d(nn_graph *g, int x, bool max, int kh, int kw, int stride_h, int stride_w, const int pad[4],
                    const char *name, const char *where);
/* Batch normalisation of x (n, c, ...) per channel (the second dimension) over the batch and any
 * further dimensions: PyTorch's BatchNorm1d/2d, Keras's BatchNormalization on channels-first data.
 * gamma, beta (c); running_mean, running_var (c) non-trainable parameters, which training plans
 * update (running = momentum * running + (1 - momentum) * batch) and evaluation plans normalise
 * with. Appends the statistics node (named "<name>.stats") and returns the output's id. */
int nn_graph_batchnorm(nn_graph *g, int x, int gamma, int beta, int running_mean, int running_var, float eps,
                       float momentum, const char *name, const char *where);

/* Removes the nodes from id `count` on: a layer whose construction fails half-way leaves no
 * parameters behind. Only nodes no plan has used may be removed (the Lua layers call it at once). */
void nn_graph_truncate(nn_graph *g, int count);

/* Reverse-mode autodiff: appends the nodes computing d(loss)/d(wrt[i]) for each i and stores
 * their ids in grads[i] (-1 where wrt[i] does not influence loss). loss must have one element. */
int nn_graph_backward(nn_graph *g, int loss, const int *wrt, int nwrt, int *grads);

/* "relu 'h1' (mlp.lua:7)": how errors and logs name a node. */
const char *nn_graph_describe(const nn_graph *g, int id, char *buf, size_t size);
/* The op's name ("relu", "linear", ...). */
const char *nn_graph_op_name(const nn_node *node);
/* Element count with the batch dimension set to n. */
size_t nn_graph_numel(const nn_node *node, int n);
/* Number of elements of the graph's trainable (or non-trainable) parameters. */
int64_t nn_graph_param_count(const nn_graph *g, bool trainable);

#endif
