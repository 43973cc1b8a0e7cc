/* nn_autodiff: reverse-mode differentiation by appending backward nodes to the graph.
 * backward_rule() is the one table of rules, one case per op (tinygrad's habit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_graph.h"
#include "nn_graph_build.h"

/* State of one backward pass. */
typedef struct grad_pass {
  nn_graph *g;
  int *grad;          /* grad[id]: node holding d(loss)/d(id) so far, or -1 */
  const bool *needs;  /* needs[id]: id lies between a wrt node and the loss */
} grad_pass;

/* A backward node shaped like node `like`, created "at" the forward node's script line. */
static int grad_node(nn_graph *g, nn_opcode op, int like, const int *inputs, int ninputs) {
  const nn_node *L = &g->nodes[like];
  nn_node n = nn_graph_proto(op, NULL, L->where);
  memcpy(n.inputs, inputs, (size_t)ninputs * sizeof *inputs);
  n.ninputs = ninputs;
  n.batched = L->batched;
  n.ndim = L->ndim;
  memcpy(n.shape, L->shape, sizeof n.shape);
  return nn_graph_append(g, &n);
}

/* Sums `t` down to the shape of node `target` (undoing a broadcast); t itself if shapes agree. */
static int reduce_to(nn_graph *g, int t, int target) {
  int from[4], to[4];
  nn_graph_align4(&g->nodes[t], from);
  nn_graph_align4(&g->nodes[target], to);
  if (memcmp(from, to, sizeof from) == 0) return t;
  int id = grad_node(g, NN_REDUCE_TO, target, &t, 1);
  if (id < 0) return -1;
  memcpy(g->nodes[id].a_dims, from, sizeof from);
  memcpy(g->nodes[id].reduce_dims, to, sizeof to);
  return id;
}

/* Adds contribution c to the gradient of node `to`. */
static int accumulate(grad_pass *p, int to, int c) {
  if (c < 0) return -1;
  if (p->grad[to] < 0) {
    p->grad[to] = c;
    return 0;
  }
  int sum = nn_graph_binary(p->g, NN_BINARY_ADD, p->grad[to], c, NULL, p->g->nodes[to].where);
  if (sum < 0) return -1;
  p->grad[to] = sum;
  return 0;
}

/* Whether the gradient of input `k` of node `id` is wanted. */
static bool wants(const grad_pass *p, int id, int k) { return p->needs[p->g->nodes[id].inputs[k]]; }

/* Appends the gradient contributions of node `id` (with output gradient dy) to its inputs. */
static int backward_rule(grad_pass *p, int id, int dy) {
  nn_graph *g = p->g;
  nn_node n = g->nodes[id]; /* a copy: appending may move the node array */
  int x = n.inputs[0], y1 = n.ninputs > 1 ? n.inputs[1] : -1;
  const char *w = n.where;
  switch (n.op) {
    case NN_MATMUL: {
      /* Y = op(A) op(B): dop(A) = dY op(B)^T and dop(B) = op(A)^T dY, transposed back. */
      if (wants(p, id, 0)) {
        int da = n.trans_a ? nn_graph_matmul(g, y1, dy, n.trans_b, true, NULL, w)
                           : nn_graph_matmul(g, dy, y1, false, !n.trans_b, NULL, w);
        if (accumulate(p, x, da) != 0) return -1;
      }
      if (wants(p, id, 1)) {
        int db = n.trans_b ? nn_graph_matmul(g, dy, x, true, n.trans_a, NULL, w)
                           : nn_graph_matmul(g, x, dy, !n.trans_a, false, NULL, w);
        if (accumulate(p, y1, db) != 0) return -1;
      }
      return 0;
    }
    case NN_UNARY: {
      /* Only the one of x, y the derivative reads: relu's input can then be freed after the
       * forward (or never stored, when nn_plan fuses it with its bias add). */
      int in[2] = {nn_unary_backward_reads_x((nn_unary)n.kind) ? x : id, dy};
      int dx = grad_node(g, NN_UNARY_GRAD, x, in, 2);
      if (dx >= 0) g->nodes[dx].kind = n.kind;
      return accumulate(p, x, dx);
    }
    case NN_AFFINE: return accumulate(p, x, nn_graph_affine(g, dy, n.a, 0, NULL, w));
    case NN_BINARY: {
      int da = -1, db = -1;
      switch ((nn_binary)n.kind) {
        case NN_BINARY_ADD: da = dy, db = dy; break;
        case NN_BINARY_SUB:
          da = dy;
          if (wants(p, id, 1)) db = nn_graph_affine(g, dy, -1, 0, NULL, w);
          break;
        case NN_BINARY_MUL:
          if (wants(p, id, 0)) da = nn_graph_binary(g, NN_BINARY_MUL, dy, y1, NULL, w);
          if (wants(p, id, 1)) db = nn_graph_binary(g, NN_BINARY_MUL, dy, x, NULL, w);
          break;
        case NN_BINARY_DIV:
          /* d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b, with a/b the node itself. */
          if (wants(p, id, 0)) da = nn_graph_binary(g, NN_BINARY_DIV, dy, y1, NULL, w);
          if (wants(p, id, 1)) {
            int t = nn_graph_binary(g, NN_BINARY_MUL, dy, id, NULL, w);
            t = t < 0 ? -1 : nn_graph_binary(g, NN_BINARY_DIV, t, y1, NULL, w);
            db = t < 0 ? -1 : nn_graph_affine(g, t, -1, 0, NULL, w);
          }
          break;
      }
      if (wants(p, id, 0) && accumulate(p, x, da < 0 ? -1 : reduce_to(g, da, x)) != 0) return -1;
      if (wants(p, id, 1) && accumulate(p, y1, db < 0 ? -1 : reduce_to(g, db, y1)) != 0) return -1;
      return 0;
    }
    case NN_SUM: {
      int dx = grad_node(g, NN_BROADCAST, x, &dy, 1);
      if (dx >= 0) g->nodes[dx].kind = n.kind;  /* mean: scaled by 1/count when run */
      return accumulate(p, x, dx);
    }
    case NN_SOFTMAX: {
      int in[2] = {id, dy};
      int dx = grad_node(g, NN_SOFTMAX_GRAD, x, in, 2);
      if (dx >= 0) g->nodes[dx].kind = n.kind;
      return accumulate(p, x, dx);
    }
    case NN_CROSS_ENTROPY: {
      int in[3] = {x, y1, dy};
      return accumulate(p, x, grad_node(g, NN_CE_GRAD, x, in, 3));
    }
    case NN_MSE: {
      int in[3] = {x, y1, dy};
      int dpred = grad_node(g, NN_MSE_GRAD, x, in, 3);
      if (wants(p, id, 0) && accumulate(p, x, dpred) != 0) return -1;
      if (wants(p, id, 1) && accumulate(p, y1, dpred < 0 ? -1 : nn_graph_affine(g, dpred, -1, 0, NULL, w)) != 0)
        return -1;
      return 0;
    }
    case NN_DROPOUT: {
      int in[2] = {dy, y1};
      int dx = grad_node(g, NN_DROPOUT_GRAD, x, in, 2);
      if (dx >= 0) g->nodes[dx].forward = id;
      return accumulate(p, x, dx);
    }
    case NN_RESHAPE: {
      const nn_node *X = &g->nodes[x];
      int off = X->batched ? 1 : 0;
      return accumulate(p, x, nn_graph_reshape(g, dy, X->ndim - off, X->shape + off, NULL, w));
    }
    case NN_CONV2D: {
      if (wants(p, id, 0)) {
        int in[2] = {dy, y1};
        int dx = grad_node(g, NN_CONV2D_GRAD_INPUT, x, in, 2);
        if (dx >= 0) g->nodes[dx].conv = n.conv;
        if (accumulate(p, x, dx) != 0) return -1;
      }
      if (wants(p, id, 1)) {
        int in[2] = {n.inputs[2], dy};  /* the columns the forward product used */
        int dw = grad_node(g, NN_CONV2D_GRAD_WEIGHT, y1, in, 2);
        if (dw >= 0) g->nodes[dw].conv = n.conv;
        if (accumulate(p, y1, dw) != 0) return -1;
      }
      if (n.ninputs > 3 && wants(p, id, 3)) {
        /* The bias (oc) was broadcast over (n, oc, h, w): its gradient sums dy over n, h, w. */
        int db = grad_node(g, NN_REDUCE_TO, n.inputs[3], &dy, 1);
        if (db < 0) return -1;
        nn_graph_align4(&g->nodes[dy], g->nodes[db].a_dims);
        int to[4] = {1, n.conv.oc, 1, 1};
        memcpy(g->nodes[db].reduce_dims, to, sizeof to);
        if (accumulate(p, n.inputs[3], db) != 0) return -1;
      }
      return 0;
    }
    case NN_POOL2D: {
      int in[3] = {x, id, dy};
      int dx = grad_node(g, NN_POOL2D_GRAD, x, in, 3);
      if (dx >= 0) g->nodes[dx].kind = n.kind, g->nodes[dx].conv = n.conv;
      return accumulate(p, x, dx);
    }
    case NN_BATCHNORM: {
      /* inputs (x, stats, gamma, beta): the statistics' own dependence on x is part of dx's rule. */
      int stats = n.inputs[1], gamma = n.inputs[2], in[3] = {x, dy, stats};
      int sums = grad_node(g, NN_BATCHNORM_SUMS, stats, in, 3);
      if (sums < 0) return -1;
      if (wants(p, id, 0)) {
        int din[5] = {x, dy, gamma, stats, sums};
        if (accumulate(p, x, grad_node(g, NN_BATCHNORM_GRAD, x, din, 5)) != 0) return -1;
      }
      for (int k = 2; k <= 3; k++) {  /* row 0 of the sums is dgamma, row 1 dbeta */
        if (!wants(p, id, k)) continue;
        int d = grad_node(g, NN_ROW, n.inputs[k], &sums, 1);
        if (d >= 0) g->nodes[d].kind = k - 2;
        if (accumulate(p, n.inputs[k], d) != 0) return -1;
      }
      return 0;
    }
    case NN_INPUT:
    case NN_PARAM:
    case NN_SCALAR:
    case NN_CONST:
    case NN_ACCURACY:
    case NN_BATCHNORM_STATS:  /* differentiated with the batchnorm that uses it */
    case NN_IM2COL:           /* and the columns with the convolution */
      return 0;
    default: {
      char d[256];
      return nn_fail("%s: cannot differentiate through a backward op (no second derivatives)",
                     nn_graph_describe(g, id, d, sizeof d));
    }
  }
}

/* Whether the gradient can flow into input k of a node (labels and rates carry none). */
static bool differentiable_input(const nn_node *n, int k) {
  switch (n->op) {
    case NN_CROSS_ENTROPY:
    case NN_ACCURACY:
    case NN_DROPOUT: return k == 0;
    case NN_BATCHNORM: return k != 1;
    case NN_CONV2D: return k != 2;
    case NN_BATCHNORM_STATS:
    case NN_IM2COL:
    case NN_INPUT:
    case NN_PARAM:
    case NN_SCALAR:
    case NN_CONST: return false;
    default: return true;
  }
}

int nn_graph_backward(nn_graph *g, int loss, const int *wrt, int nwrt, int *grads) {
  char d[256];
  if (loss < 0 || loss >= g->count) return nn_fail("backward: the loss is not a node of this graph");
  const nn_node *L = &g->nodes[loss];
  if (L->batched || nn_graph_numel(L, 1) != 1)
    return nn_fail("%s: backward needs a loss with one element (reduce it with sum or mean)",
                   nn_graph_describe(g, loss, d, sizeof d));
  int count = loss + 1;
  bool *needs = nn_calloc((size_t)count, sizeof *needs, "backward");
  bool *reaches = nn_calloc((size_t)count, sizeof *reaches, "backward");
  int *grad = nn_alloc((size_t)count * sizeof *grad, "backward");
  int status = -1;
  if (!needs || !reaches || !grad) goto done;
  /* needs: downstream of a wrt node; reaches: upstream of the loss. */
  for (int i = 0; i < nwrt; i++)
    if (wrt[i] >= 0 && wrt[i] < count) needs[wrt[i]] = true;
  for (int i = 0; i < count; i++)
    for (int k = 0; k < g->nodes[i].ninputs && !needs[i]; k++)
      if (differentiable_input(&g->nodes[i], k)) needs[i] = needs[g->nodes[i].inputs[k]];
  reaches[loss] = true;
  for (int i = loss; i >= 0; i--)
    if (reaches[i])
      for (int k = 0; k < g->nodes[i].ninputs; k++)
        if (differentiable_input(&g->nodes[i], k)) reaches[g->nodes[i].inputs[k]] = true;
  for (int i = 0; i < count; i++) {
    needs[i] = needs[i] && reaches[i];
    grad[i] = -1;
  }
  grad_pass p = {g, grad, needs};
  grad[loss] = nn_graph_const(g, 1.0f, g->nodes[loss].where);
  if (grad[loss] < 0) goto done;
  for (int i = loss; i >= 0; i--) {
    if (grad[i] < 0 || !needs[i]) continue;
    if (backward_rule(&p, i, grad[i]) != 0) goto done;
  }
  for (int i = 0; i < nwrt; i++) grads[i] = wrt[i] >= 0 && wrt[i] < count && needs[wrt[i]] ? grad[wrt[i]] : -1;
  status = 0;
done:
  free(needs);
  free(reaches);
  free(grad);
  return status;
}
