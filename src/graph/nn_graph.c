/* nn_graph: node constructors and shape inference (see nn_graph.h). */
#include "nn_graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_graph_build.h"

static const char *const op_names[NN_OPCODE_COUNT] = {
    [NN_INPUT] = "input",
    [NN_PARAM] = "param",
    [NN_SCALAR] = "scalar",
    [NN_CONST] = "const",
    [NN_MATMUL] = "matmul",
    [NN_UNARY] = "unary",
    [NN_AFFINE] = "affine",
    [NN_BINARY] = "binary",
    [NN_REDUCE_TO] = "reduce_to",
    [NN_SUM] = "sum",
    [NN_BROADCAST] = "broadcast",
    [NN_SOFTMAX] = "softmax",
    [NN_CROSS_ENTROPY] = "cross_entropy",
    [NN_ACCURACY] = "accuracy",
    [NN_MSE] = "mse",
    [NN_DROPOUT] = "dropout",
    [NN_RESHAPE] = "reshape",
    [NN_IM2COL] = "im2col",
    [NN_CONV2D] = "conv2d",
    [NN_POOL2D] = "pool2d",
    [NN_BATCHNORM_STATS] = "batchnorm_stats",
    [NN_BATCHNORM] = "batchnorm",
    [NN_UNARY_GRAD] = "unary_grad",
    [NN_SOFTMAX_GRAD] = "softmax_grad",
    [NN_CE_GRAD] = "cross_entropy_grad",
    [NN_MSE_GRAD] = "mse_grad",
    [NN_DROPOUT_GRAD] = "dropout_grad",
    [NN_CONV2D_GRAD_INPUT] = "conv2d_grad_input",
    [NN_CONV2D_GRAD_WEIGHT] = "conv2d_grad_weight",
    [NN_POOL2D_GRAD] = "pool2d_grad",
    [NN_BATCHNORM_SUMS] = "batchnorm_sums",
    [NN_BATCHNORM_GRAD] = "batchnorm_grad",
    [NN_ROW] = "row",
};

const char *nn_graph_op_name(const nn_node *node) {
  static const char *const unary[] = {"relu", "sigmoid", "tanh", "exp", "log", "square"};
  static const char *const binary[] = {"add", "sub", "mul", "div"};
  switch (node->op) {
    case NN_UNARY: return unary[node->kind];
    case NN_BINARY: return binary[node->kind];
    case NN_SOFTMAX: return node->kind ? "log_softmax" : "softmax";
    case NN_SUM: return node->kind ? "mean" : "sum";
    case NN_POOL2D: return node->kind ? "max_pool2d" : "avg_pool2d";
    default: return op_names[node->op];
  }
}

nn_graph *nn_graph_new(void) { return nn_calloc(1, sizeof(nn_graph), "graph"); }

void nn_graph_free(nn_graph *g) {
  if (!g) return;
  free(g->nodes);
  free(g);
}

void nn_graph_truncate(nn_graph *g, int count) {
  if (count >= 0 && count < g->count) {
    g->count = count;
    g->version++;
  }
}

const char *nn_graph_describe(const nn_graph *g, int id, char *buf, size_t size) {
  const nn_node *n = &g->nodes[id];
  snprintf(buf, size, "%s '%s' (%s)", nn_graph_op_name(n), n->name, n->where[0] ? n->where : "?");
  return buf;
}

size_t nn_graph_numel(const nn_node *node, int n) {
  size_t count = 1;
  for (int i = 0; i < node->ndim; i++) count *= (i == 0 && node->batched) ? (size_t)n : (size_t)node->shape[i];
  return count;
}

int64_t nn_graph_param_count(const nn_graph *g, bool trainable) {
  int64_t total = 0;
  for (int i = 0; i < g->count; i++)
    if (g->nodes[i].op == NN_PARAM && g->nodes[i].trainable == trainable)
      total += (int64_t)nn_graph_numel(&g->nodes[i], 1);
  return total;
}

/* "(?, 784)" for a batched node. */
static const char *shape_str(const nn_node *n, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < n->ndim && used < size; i++) {
    if (i == 0 && n->batched) used += (size_t)snprintf(buf + used, size - used, "?");
    else used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)n->shape[i]);
  }
  if (used < size) snprintf(buf + used, size - used, n->ndim == 1 ? ",)" : ")");
  return buf;
}

/* The error every constructor reports: "<where>: <op> '<name>': <message>". */
NN_PRINTF(4, 5)
static int node_fail(const char *where, const char *op, const char *name, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (name && *name) return nn_fail("%s: %s '%s': %s", where && *where ? where : "?", op, name, msg);
  return nn_fail("%s: %s: %s", where && *where ? where : "?", op, msg);
}

static int check_input(const nn_graph *g, int id, const char *where, const char *op, const char *name,
                       const char *role) {
  if (id < 0 || id >= g->count) return node_fail(where, op, name, "%s is not a node of this graph", role);
  return 0;
}

/* Starts a node; the caller fills in what differs, then calls append. */
nn_node nn_graph_proto(nn_opcode op, const char *name, const char *where) {
  nn_node n;
  memset(&n, 0, sizeof n);
  n.op = op;
  n.dtype = NN_F32;
  n.forward = -1;
  if (name) snprintf(n.name, sizeof n.name, "%s", name);
  if (where) snprintf(n.where, sizeof n.where, "%s", where);
  for (int i = 0; i < NN_MAX_DIMS; i++) n.shape[i] = 1;
  return n;
}

int nn_graph_append(nn_graph *g, nn_node *n) {
  if (n->name[0]) {
    for (int i = 0; i < g->count; i++)
      if (strcmp(g->nodes[i].name, n->name) == 0)
        return node_fail(n->where, nn_graph_op_name(n), n->name, "the name is already used by the node made at %s",
                         g->nodes[i].where);
  }
  if (g->count == g->capacity) {
    int cap = g->capacity ? g->capacity * 2 : 256;
    nn_node *grown = realloc(g->nodes, (size_t)cap * sizeof *grown);
    if (!grown) return nn_fail("graph: out of host memory at %d nodes", g->count);
    g->nodes = grown;
    g->capacity = cap;
  }
  int id = g->count++;
  if (!n->name[0]) snprintf(n->name, sizeof n->name, "%s%d", nn_graph_op_name(n), id);
  g->nodes[id] = *n;
  g->version++;
  return id;
}

static void copy_shape(nn_node *dst, const nn_node *src) {
  dst->batched = src->batched;
  dst->ndim = src->ndim;
  memcpy(dst->shape, src->shape, sizeof dst->shape);
}

static int check_float(const nn_graph *g, int id, const char *where, const char *op, const char *name,
                       const char *role) {
  if (check_input(g, id, where, op, name, role) != 0) return -1;
  if (g->nodes[id].dtype != NN_F32)
    return node_fail(where, op, name, "%s '%s' holds %s values; this op needs float32", role, g->nodes[id].name,
                     nn_dtype_name(g->nodes[id].dtype));
  return 0;
}

static int check_dims(int ndim, const int64_t *shape, const char *where, const char *op, const char *name) {
  if (ndim < 0 || ndim > NN_MAX_DIMS) return node_fail(where, op, name, "%d dimensions (at most %d)", ndim, NN_MAX_DIMS);
  int64_t count = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] <= 0) return node_fail(where, op, name, "dimension %d is %lld; sizes must be positive", i + 1, (long long)shape[i]);
    if (shape[i] > INT32_MAX / count) return node_fail(where, op, name, "the shape has more than 2^31 elements");
    count *= shape[i];
  }
  return 0;
}

/* ---- leaves ---- */

int nn_graph_input(nn_graph *g, const char *name, nn_dtype dtype, int ndim, const int64_t *shape, const char *where) {
  if (check_dims(ndim, shape, where, "input", name) != 0) return -1;
  if (ndim + 1 > NN_MAX_DIMS) return node_fail(where, "input", name, "at most %d dimensions besides the batch", NN_MAX_DIMS - 1);
  if (dtype == NN_U8) return node_fail(where, "input", name, "inputs are float32 or int32 (bytes are scaled when gathered)");
  nn_node n = nn_graph_proto(NN_INPUT, name, where);
  n.dtype = dtype;
  n.batched = true;
  n.ndim = ndim + 1;
  n.shape[0] = 0;
  for (int i = 0; i < ndim; i++) n.shape[i + 1] = shape[i];
  return nn_graph_append(g, &n);
}

int nn_graph_param(nn_graph *g, const char *name, int ndim, const int64_t *shape, nn_init init, double scale,
                   int64_t fan_in, int64_t fan_out, bool trainable, const char *where) {
  if (check_dims(ndim, shape, where, "param", name) != 0) return -1;
  if (ndim < 1) return node_fail(where, "param", name, "a parameter needs at least one dimension");
  nn_node n = nn_graph_proto(NN_PARAM, name, where);
  n.ndim = ndim;
  memcpy(n.shape, shape, (size_t)ndim * sizeof *shape);
  n.init = init;
  n.trainable = trainable;
  switch (init) {
    case NN_INIT_GLOROT_UNIFORM: n.init_scale = sqrt(6.0 / (double)(fan_in + fan_out)); break;
    case NN_INIT_GLOROT_NORMAL: n.init_scale = sqrt(2.0 / (double)(fan_in + fan_out)); break;
    case NN_INIT_HE_UNIFORM: n.init_scale = sqrt(6.0 / (double)fan_in); break;
    case NN_INIT_HE_NORMAL: n.init_scale = sqrt(2.0 / (double)fan_in); break;
    default: n.init_scale = scale;
  }
  if ((init >= NN_INIT_GLOROT_UNIFORM && init <= NN_INIT_HE_NORMAL) && (fan_in <= 0 || fan_out <= 0))
    return node_fail(where, "param", name, "fan-in and fan-out must be positive");
  return nn_graph_append(g, &n);
}

int nn_graph_scalar(nn_graph *g, const char *name, float value, const char *where) {
  nn_node n = nn_graph_proto(NN_SCALAR, name, where);
  n.ndim = 1;
  n.value = value;
  return nn_graph_append(g, &n);
}

int nn_graph_const(nn_graph *g, float value, const char *where) {
  nn_node n = nn_graph_proto(NN_CONST, NULL, where);
  n.ndim = 1;
  n.a = value;
  return nn_graph_append(g, &n);
}

/* ---- forward ops ---- */

int nn_graph_matmul(nn_graph *g, int a, int b, bool trans_a, bool trans_b, const char *name, const char *where) {
  const char *op = "matmul";
  if (check_float(g, a, where, op, name, "left operand") != 0 || check_float(g, b, where, op, name, "right operand") != 0)
    return -1;
  const nn_node *A = &g->nodes[a], *B = &g->nodes[b];
  char sa[64], sb[64];
  if (A->ndim != 2 || B->ndim != 2)
    return node_fail(where, op, name, "operands must be 2-D, got %s and %s (flatten first)", shape_str(A, sa, sizeof sa),
                     shape_str(B, sb, sizeof sb));
  /* op(A) is (rows, inner), op(B) is (inner, cols); a batched dimension may be the rows of
   * op(A) or the inner dimension of both (the weight gradient sums over the batch). */
  int64_t rows = trans_a ? A->shape[1] : A->shape[0], inner_a = trans_a ? A->shape[0] : A->shape[1];
  int64_t inner_b = trans_b ? B->shape[1] : B->shape[0], cols = trans_b ? B->shape[0] : B->shape[1];
  bool rows_batched = !trans_a && A->batched, inner_a_batched = trans_a && A->batched;
  bool inner_b_batched = !trans_b && B->batched, cols_batched = trans_b && B->batched;
  if (cols_batched) return node_fail(where, op, name, "the batch dimension cannot become the columns of a product");
  if (inner_a_batched != inner_b_batched || (!inner_a_batched && inner_a != inner_b))
    return node_fail(where, op, name, "%s x %s: inner dimensions differ (%s vs %s)", shape_str(A, sa, sizeof sa),
                     shape_str(B, sb, sizeof sb), inner_a_batched ? "batch" : "", inner_b_batched ? "batch" : "");
  nn_node n = nn_graph_proto(NN_MATMUL, name, where);
  n.inputs[0] = a, n.inputs[1] = b, n.ninputs = 2;
  n.trans_a = trans_a, n.trans_b = trans_b;
  n.ndim = 2;
  n.batched = rows_batched;
  n.shape[0] = rows_batched ? 0 : rows;
  n.shape[1] = cols;
  return nn_graph_append(g, &n);
}

int nn_graph_unary(nn_graph *g, nn_unary f, int x, const char *name, const char *where) {
  nn_node n = nn_graph_proto(NN_UNARY, name, where);
  n.kind = f;
  if (check_float(g, x, where, nn_graph_op_name(&n), name, "input") != 0) return -1;
  n.inputs[0] = x, n.ninputs = 1;
  copy_shape(&n, &g->nodes[x]);
  return nn_graph_append(g, &n);
}

int nn_graph_affine(nn_graph *g, int x, float a, float b, const char *name, const char *where) {
  if (check_float(g, x, where, "affine", name, "input") != 0) return -1;
  nn_node n = nn_graph_proto(NN_AFFINE, name, where);
  n.inputs[0] = x, n.ninputs = 1;
  n.a = a, n.b = b;
  copy_shape(&n, &g->nodes[x]);
  return nn_graph_append(g, &n);
}

/* A node's shape aligned right into 4 dimensions, the batch as -1. */
void nn_graph_align4(const nn_node *n, int dims[4]) {
  for (int i = 0; i < 4; i++) dims[i] = 1;
  for (int i = 0; i < n->ndim; i++) dims[4 - n->ndim + i] = (i == 0 && n->batched) ? -1 : (int)n->shape[i];
}

int nn_graph_binary(nn_graph *g, nn_binary kind, int a, int b, const char *name, const char *where) {
  nn_node n = nn_graph_proto(NN_BINARY, name, where);
  n.kind = kind;
  const char *op = nn_graph_op_name(&n);
  if (check_float(g, a, where, op, name, "left operand") != 0 || check_float(g, b, where, op, name, "right operand") != 0)
    return -1;
  const nn_node *A = &g->nodes[a], *B = &g->nodes[b];
  nn_graph_align4(A, n.a_dims);
  nn_graph_align4(B, n.b_dims);
  int out[4];
  char sa[64], sb[64];
  for (int i = 0; i < 4; i++) {
    int x = n.a_dims[i], y = n.b_dims[i];
    if (x == y || y == 1) out[i] = x;
    else if (x == 1) out[i] = y;
    else
      return node_fail(where, op, name, "shapes %s and %s do not broadcast", shape_str(A, sa, sizeof sa),
                       shape_str(B, sb, sizeof sb));
  }
  n.ndim = A->ndim > B->ndim ? A->ndim : B->ndim;
  for (int i = 0; i < 4; i++)
    if (out[i] == -1 && i != 4 - n.ndim)
      return node_fail(where, op, name, "broadcasting %s with %s would move the batch dimension inward",
                       shape_str(A, sa, sizeof sa), shape_str(B, sb, sizeof sb));
  n.inputs[0] = a, n.inputs[1] = b, n.ninputs = 2;
  for (int i = 0; i < n.ndim; i++) n.shape[i] = out[4 - n.ndim + i] == -1 ? 0 : out[4 - n.ndim + i];
  n.batched = out[4 - n.ndim] == -1;
  return nn_graph_append(g, &n);
}

int nn_graph_sum(nn_graph *g, int x, bool mean, const char *name, const char *where) {
  if (check_float(g, x, where, mean ? "mean" : "sum", name, "input") != 0) return -1;
  nn_node n = nn_graph_proto(NN_SUM, name, where);
  n.kind = mean;
  n.inputs[0] = x, n.ninputs = 1;
  n.ndim = 1;
  return nn_graph_append(g, &n);
}

int nn_graph_softmax(nn_graph *g, int x, bool log, const char *name, const char *where) {
  const char *op = log ? "log_softmax" : "softmax";
  if (check_float(g, x, where, op, name, "input") != 0) return -1;
  nn_node n = nn_graph_proto(NN_SOFTMAX, name, where);
  n.kind = log;
  n.inputs[0] = x, n.ninputs = 1;
  copy_shape(&n, &g->nodes[x]);
  return nn_graph_append(g, &n);
}

/* Shared checks of (logits (n, k), labels (n) int32) for cross-entropy and accuracy. */
static int check_classification(const nn_graph *g, int logits, int labels, const char *where, const char *op,
                                const char *name) {
  if (check_float(g, logits, where, op, name, "logits") != 0 || check_input(g, labels, where, op, name, "labels") != 0)
    return -1;
  const nn_node *L = &g->nodes[logits], *Y = &g->nodes[labels];
  char s[64];
  if (!L->batched || L->ndim != 2) return node_fail(where, op, name, "logits must be (batch, classes), got %s", shape_str(L, s, sizeof s));
  if (Y->dtype != NN_I32 || !Y->batched || Y->ndim != 1)
    return node_fail(where, op, name, "labels must be an int32 input of shape (batch,), got %s %s", nn_dtype_name(Y->dtype),
                     shape_str(Y, s, sizeof s));
  return 0;
}

static int scalar_of(nn_graph *g, nn_opcode op, int x, int y, const char *name, const char *where) {
  nn_node n = nn_graph_proto(op, name, where);
  n.inputs[0] = x, n.inputs[1] = y, n.ninputs = 2;
  n.ndim = 1;
  return nn_graph_append(g, &n);
}

int nn_graph_cross_entropy(nn_graph *g, int logits, int labels, const char *name, const char *where) {
  if (check_classification(g, logits, labels, where, "cross_entropy", name) != 0) return -1;
  return scalar_of(g, NN_CROSS_ENTROPY, logits, labels, name, where);
}

int nn_graph_accuracy(nn_graph *g, int logits, int labels, const char *name, const char *where) {
  if (check_classification(g, logits, labels, where, "accuracy", name) != 0) return -1;
  return scalar_of(g, NN_ACCURACY, logits, labels, name, where);
}

int nn_graph_mse(nn_graph *g, int pred, int target, const char *name, const char *where) {
  if (check_float(g, pred, where, "mse", name, "prediction") != 0 || check_float(g, target, where, "mse", name, "target") != 0)
    return -1;
  const nn_node *P = &g->nodes[pred], *T = &g->nodes[target];
  char sp[64], st[64];
  bool same = P->ndim == T->ndim && P->batched == T->batched;
  for (int i = 0; same && i < P->ndim; i++) same = P->shape[i] == T->shape[i];
  if (!same) return node_fail(where, "mse", name, "prediction %s and target %s differ in shape", shape_str(P, sp, sizeof sp), shape_str(T, st, sizeof st));
  return scalar_of(g, NN_MSE, pred, target, name, where);
}

int nn_graph_dropout(nn_graph *g, int x, int rate, const char *name, const char *where) {
  if (check_float(g, x, where, "dropout", name, "input") != 0 || check_input(g, rate, where, "dropout", name, "rate") != 0)
    return -1;
  if (g->nodes[rate].op != NN_SCALAR)
    return node_fail(where, "dropout", name, "the rate must be a scalar node (g:scalar), so it can change without recompiling");
  nn_node n = nn_graph_proto(NN_DROPOUT, name, where);
  n.inputs[0] = x, n.inputs[1] = rate, n.ninputs = 2;
  copy_shape(&n, &g->nodes[x]);
  return nn_graph_append(g, &n);
}

int nn_graph_reshape(nn_graph *g, int x, int ndim, const int64_t *shape, const char *name, const char *where) {
  if (check_input(g, x, where, "reshape", name, "input") != 0) return -1;
  const nn_node *X = &g->nodes[x];
  int full = ndim + (X->batched ? 1 : 0);
  if (full < 1 || full > NN_MAX_DIMS) return node_fail(where, "reshape", name, "%d dimensions (at most %d)", full, NN_MAX_DIMS);
  nn_node n = nn_graph_proto(NN_RESHAPE, name, where);
  n.dtype = X->dtype;
  n.inputs[0] = x, n.ninputs = 1;
  n.batched = X->batched;
  n.ndim = full;
  int64_t have = (int64_t)nn_graph_numel(X, 1), known = 1;
  int infer = -1, off = X->batched ? 1 : 0;
  bool too_big = false; /* the sizes multiply past `have`: they cannot match, and must not overflow */
  n.shape[0] = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == -1 && infer < 0) infer = i;
    else if (shape[i] <= 0) return node_fail(where, "reshape", name, "dimension %d is %lld", i + 1, (long long)shape[i]);
    else if (shape[i] > have / known) too_big = true;
    else known *= shape[i];
    n.shape[i + off] = shape[i];
  }
  if (infer >= 0) n.shape[infer + off] = known ? have / known : 0;
  char sx[64], sn[64];
  if (too_big || (int64_t)nn_graph_numel(&n, 1) != have)
    return node_fail(where, "reshape", name, "%s has %lld elements per sample; %s does not", shape_str(X, sx, sizeof sx),
                     (long long)have, shape_str(&n, sn, sizeof sn));
  return nn_graph_append(g, &n);
}

/* The geometry of a window op on x, checked through nn_conv_shape_infer. */
static int window(const nn_graph *g, int x, int oc, int kh, int kw, int sh, int sw, const int pad[4], const char *op,
                  const char *name, const char *where, nn_conv_shape *s) {
  if (check_float(g, x, where, op, name, "input") != 0) return -1;
  const nn_node *X = &g->nodes[x];
  char sx[64];
  if (!X->batched || X->ndim != 4)
    return node_fail(where, op, name, "input must be (batch, channels, height, width), got %s", shape_str(X, sx, sizeof sx));
  memset(s, 0, sizeof *s);
  s->n = 1, s->c = (int)X->shape[1], s->h = (int)X->shape[2], s->w = (int)X->shape[3];
  s->oc = oc, s->kh = kh, s->kw = kw, s->stride_h = sh, s->stride_w = sw;
  s->pad_top = pad[0], s->pad_left = pad[1], s->pad_bottom = pad[2], s->pad_right = pad[3];
  char what[256];
  snprintf(what, sizeof what, "%s: %s '%s'", where && *where ? where : "?", op, name ? name : "");
  return nn_conv_shape_infer(s, what);
}

int nn_graph_conv2d(nn_graph *g, int x, int weight, int bias, int stride_h, int stride_w, const int pad[4],
                    const char *name, const char *where) {
  const char *op = "conv2d";
  if (check_float(g, weight, where, op, name, "weight") != 0) return -1;
  const nn_node *W = &g->nodes[weight];
  char sw[64];
  if (W->ndim != 4 || W->batched)
    return node_fail(where, op, name, "weight must be (out_channels, in_channels, kh, kw), got %s", shape_str(W, sw, sizeof sw));
  if (check_input(g, x, where, op, name, "input") == 0 && g->nodes[x].ndim == 4 && g->nodes[x].shape[1] != W->shape[1])
    return node_fail(where, op, name, "input has %lld channels, weight expects %lld", (long long)g->nodes[x].shape[1],
                     (long long)W->shape[1]);
  nn_conv_shape s;
  if (window(g, x, (int)W->shape[0], (int)W->shape[2], (int)W->shape[3], stride_h, stride_w, pad, op, name, where, &s) != 0)
    return -1;
  if (bias >= 0) {
    if (check_float(g, bias, where, op, name, "bias") != 0) return -1;
    const nn_node *B = &g->nodes[bias];
    if (B->ndim != 1 || B->batched || B->shape[0] != W->shape[0])
      return node_fail(where, op, name, "bias must be (%lld,), got %s", (long long)W->shape[0], shape_str(B, sw, sizeof sw));
  }
  /* The unrolled input, "<name>.cols": computed once, read by the product and the weight gradient. */
  char cols_name[sizeof g->nodes[0].name] = "";
  if (name && *name) snprintf(cols_name, sizeof cols_name, "%s.cols", name);
  nn_node c = nn_graph_proto(NN_IM2COL, cols_name, where);
  c.inputs[0] = x, c.ninputs = 1;
  c.conv = s;
  c.batched = true, c.ndim = 2;
  c.shape[0] = 0, c.shape[1] = (int64_t)s.c * s.kh * s.kw * s.out_h * s.out_w;
  int cols = nn_graph_append(g, &c);
  if (cols < 0) return -1;
  nn_node n = nn_graph_proto(NN_CONV2D, name, where);
  n.inputs[0] = x, n.inputs[1] = weight, n.inputs[2] = cols, n.inputs[3] = bias, n.ninputs = bias >= 0 ? 4 : 3;
  n.conv = s;
  n.batched = true, n.ndim = 4;
  n.shape[0] = 0, n.shape[1] = s.oc, n.shape[2] = s.out_h, n.shape[3] = s.out_w;
  int id = nn_graph_append(g, &n);
  if (id < 0) nn_graph_truncate(g, cols);
  return id;
}

int nn_graph_pool2d(nn_graph *g, int x, bool max, int kh, int kw, int stride_h, int stride_w, const int pad[4],
                    const char *name, const char *where) {
  const char *op = max ? "max_pool2d" : "avg_pool2d";
  nn_conv_shape s;
  if (window(g, x, 0, kh, kw, stride_h, stride_w, pad, op, name, where, &s) != 0) return -1;
  s.oc = s.c;
  nn_node n = nn_graph_proto(NN_POOL2D, name, where);
  n.kind = max;
  n.inputs[0] = x, n.ninputs = 1;
  n.conv = s;
  n.batched = true, n.ndim = 4;
  n.shape[0] = 0, n.shape[1] = s.c, n.shape[2] = s.out_h, n.shape[3] = s.out_w;
  return nn_graph_append(g, &n);
}

/* A per-channel operand of batchnorm: a float (c,) node that is not batched. */
static int check_channels(const nn_graph *g, int id, int64_t c, const char *where, const char *name, const char *role) {
  if (check_float(g, id, where, "batchnorm", name, role) != 0) return -1;
  const nn_node *P = &g->nodes[id];
  char s[64];
  if (P->batched || P->ndim != 1 || P->shape[0] != c)
    return node_fail(where, "batchnorm", name, "%s '%s' must be (%lld,), one value per channel, got %s", role, P->name,
                     (long long)c, shape_str(P, s, sizeof s));
  return 0;
}

int nn_graph_batchnorm(nn_graph *g, int x, int gamma, int beta, int running_mean, int running_var, float eps,
                       float momentum, const char *name, const char *where) {
  const char *op = "batchnorm";
  if (check_float(g, x, where, op, name, "input") != 0) return -1;
  const nn_node *X = &g->nodes[x];
  char sx[64];
  if (!X->batched || X->ndim < 2)
    return node_fail(where, op, name, "input must be (batch, features) or (batch, channels, ...), got %s%s",
                     shape_str(X, sx, sizeof sx), X->batched ? "" : ", which has no batch dimension");
  int64_t c = X->shape[1];
  if (check_channels(g, gamma, c, where, name, "gamma") != 0 || check_channels(g, beta, c, where, name, "beta") != 0 ||
      check_channels(g, running_mean, c, where, name, "running mean") != 0 ||
      check_channels(g, running_var, c, where, name, "running variance") != 0)
    return -1;
  /* Training plans write the running statistics in place: they must live with the model, and the
   * optimiser must leave them alone. */
  int running[2] = {running_mean, running_var};
  for (int i = 0; i < 2; i++)
    if (g->nodes[running[i]].op != NN_PARAM || g->nodes[running[i]].trainable)
      return node_fail(where, op, name, "the running %s '%s' must be a non-trainable parameter",
                       i ? "variance" : "mean", g->nodes[running[i]].name);
  if (!(eps > 0) || !isfinite(eps)) return node_fail(where, op, name, "eps must be a positive number, got %g", eps);
  if (!(momentum >= 0 && momentum <= 1))
    return node_fail(where, op, name, "momentum must be in [0, 1] (the share of the running statistics kept at each "
                     "step, 0.99 in Keras), got %g", momentum);
  char stats_name[sizeof g->nodes[0].name] = "";
  if (name && *name) snprintf(stats_name, sizeof stats_name, "%s.stats", name);
  nn_node s = nn_graph_proto(NN_BATCHNORM_STATS, stats_name, where);
  s.inputs[0] = x, s.inputs[1] = running_mean, s.inputs[2] = running_var, s.ninputs = 3;
  s.a = eps, s.b = momentum;
  s.ndim = 2, s.shape[0] = 2, s.shape[1] = c;
  int stats = nn_graph_append(g, &s);
  if (stats < 0) return -1;
  nn_node n = nn_graph_proto(NN_BATCHNORM, name, where);
  n.inputs[0] = x, n.inputs[1] = stats, n.inputs[2] = gamma, n.inputs[3] = beta, n.ninputs = 4;
  copy_shape(&n, &g->nodes[x]);
  int id = nn_graph_append(g, &n);
  if (id < 0) nn_graph_truncate(g, stats);
  return id;
}
