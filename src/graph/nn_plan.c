/* nn_plan: choosing the nodes of a run, letting a layer's output pass apply its activation,
 * planning their memory in one arena, and running them (see nn_model.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_gemm.h"
#include "nn_model_private.h"
#include "nn_ops.h"

struct nn_plan {
  nn_model *m;
  bool training;
  int batch;             /* largest batch the arena holds */
  int *order;            /* node ids run, ascending (a topological order) */
  int norder;
  int count;             /* graph nodes when compiled: the per-node arrays' length */
  cl_mem *value;         /* per node: storage (a sub-buffer of the arena, or the model's) or NULL */
  cl_mem *workspace;     /* per node: scratch for convolutions, or NULL */
  bool *owned;           /* per node: value[id] is a sub-buffer this plan releases */
  int *applies;          /* per node: the unary it applies on its way out (fuse_activations), or -1 */
  int *bias_pair;        /* a conv's weight gradient and bias gradient, made in one launch
                          * (pair_bias_gradients): each holds the other's id; -1 elsewhere */
  nn_buffer arena;
  size_t arena_bytes;
  int launches;
  bool check_nan;        /* NN_CHECK=nan */
};

/* ---- which nodes, in what order ---- */

static bool lives_with_model(const nn_node *n) { return n->op == NN_PARAM || n->op == NN_SCALAR || n->op == NN_CONST; }

/* Views share their input's storage: reshape always, dropout in evaluation plans, and a unary
 * that the node before it applies (fuse_activations). */
static bool is_view(const nn_plan *p, const nn_node *n) {
  return n->op == NN_RESHAPE || (n->op == NN_DROPOUT && !p->training) ||
         (n->op == NN_UNARY && p->applies[n->inputs[0]] == (int)(n - p->m->g->nodes));
}

/* The node whose storage a node uses (itself unless it is a view). */
static int storage_root(const nn_plan *p, int id) {
  const nn_node *nodes = p->m->g->nodes;
  while (is_view(p, &nodes[id])) id = nodes[id].inputs[0];
  return id;
}

/* ---- fusion ----
 * A layer's output pass applies its activation: an add (the bias add of a dense layer) computes
 * f(a + b) for any unary f (nn_op_add_unary), a convolution adds its bias and a ReLU in the pass
 * that writes its output. The unary then runs nothing and is a view of the node before it, whose
 * storage holds f's result: one launch and one pass over the tensor fewer, and the pre-activation
 * is never stored. Only when the unary is the sole reader and comes right after it, the node is
 * not a target the run must return, and NN_CHECK=nan is off (it checks every node's own value). */
static bool can_apply(const nn_node *producer, const nn_node *unary) {
  if (producer->op == NN_BINARY) return producer->kind == NN_BINARY_ADD;
  return producer->op == NN_CONV2D && unary->kind == NN_UNARY_RELU;
}

static int fuse_activations(nn_plan *p, const bool *target) {
  const nn_node *nodes = p->m->g->nodes;
  int *readers = nn_calloc((size_t)p->count, sizeof *readers, "plan");
  if (!readers) return -1;
  for (int i = 0; i < p->count; i++) p->applies[i] = -1;
  for (int k = 0; k < p->norder; k++)
    for (int j = 0; j < nodes[p->order[k]].ninputs; j++) readers[nodes[p->order[k]].inputs[j]]++;
  for (int k = 0; k + 1 < p->norder && !p->check_nan; k++) {
    int id = p->order[k], next = p->order[k + 1];
    if (nodes[next].op == NN_UNARY && nodes[next].inputs[0] == id && readers[id] == 1 && !target[id] &&
        can_apply(&nodes[id], &nodes[next]))
      p->applies[id] = next;
  }
  free(readers);
  return 0;
}

/* A convolution's bias gradient (dy summed to one value per channel) is made by its weight
 * gradient's launch, which reads the same dy: oneDNN's backward-weights kernel sums it on the way,
 * in place of a pass of its own over dy. The bias gradient then runs nothing; its storage is taken
 * at the weight gradient's step (plan_memory). */
static bool is_bias_gradient(const nn_node *reduce, const nn_node *grad_weight) {
  const nn_conv_shape *s = &grad_weight->conv;
  const int per_channel[4] = {1, s->oc, 1, 1}, dy[4] = {-1, s->oc, s->out_h, s->out_w};
  return reduce->op == NN_REDUCE_TO && reduce->inputs[0] == grad_weight->inputs[1] &&
         memcmp(reduce->reduce_dims, per_channel, sizeof per_channel) == 0 && memcmp(reduce->a_dims, dy, sizeof dy) == 0;
}

static void pair_bias_gradients(nn_plan *p) {
  const nn_node *nodes = p->m->g->nodes;
  for (int i = 0; i < p->count; i++) p->bias_pair[i] = -1;
  for (int k = 0; k < p->norder; k++) {
    int dw = p->order[k];
    if (nodes[dw].op != NN_CONV2D_GRAD_WEIGHT) continue;
    for (int j = k + 1; j < p->norder; j++) {
      int db = p->order[j];
      if (p->bias_pair[db] < 0 && is_bias_gradient(&nodes[db], &nodes[dw])) {
        p->bias_pair[dw] = db, p->bias_pair[db] = dw;
        break;
      }
    }
  }
}

static bool made_by_its_pair(const nn_plan *p, const nn_node *n) {
  return n->op == NN_REDUCE_TO && p->bias_pair[n - p->m->g->nodes] >= 0;
}

/* Bytes of a node's value at the plan's batch size. */
static size_t value_bytes(const nn_plan *p, const nn_node *n) { return nn_graph_numel(n, p->batch) * 4; }

static bool uses_workspace(const nn_node *n) {
  return n->op == NN_CONV2D || n->op == NN_CONV2D_GRAD_INPUT || n->op == NN_CONV2D_GRAD_WEIGHT;
}

static nn_conv_shape conv_at(const nn_node *n, int batch) {
  nn_conv_shape s = n->conv;
  s.n = batch;
  return s;
}

/* ---- memory planning: greedy first-fit over the run order ---- */

typedef struct block {
  size_t offset, size;
  int owner;  /* node id, or -1 for a workspace */
} block;

typedef struct arena_plan {
  block *live;  /* sorted by offset */
  int nlive, cap;
  size_t top, align;
} arena_plan;

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int arena_take(arena_plan *a, size_t size, int owner, size_t *offset) {
  size = round_up(size ? size : 4, a->align);
  size_t at = 0;
  int pos = 0;
  for (; pos < a->nlive; pos++) {
    if (a->live[pos].offset >= at + size) break;  /* the gap before this block fits */
    at = round_up(a->live[pos].offset + a->live[pos].size, a->align);
  }
  if (a->nlive == a->cap) {
    int cap = a->cap ? a->cap * 2 : 64;
    block *grown = realloc(a->live, (size_t)cap * sizeof *grown);
    if (!grown) return nn_fail("plan: out of host memory");
    a->live = grown;
    a->cap = cap;
  }
  memmove(&a->live[pos + 1], &a->live[pos], (size_t)(a->nlive - pos) * sizeof *a->live);
  a->live[pos] = (block){at, size, owner};
  a->nlive++;
  if (at + size > a->top) a->top = at + size;
  *offset = at;
  return 0;
}

static void arena_release(arena_plan *a, int owner) {
  for (int i = 0; i < a->nlive; i++)
    if (a->live[i].owner == owner) {
      memmove(&a->live[i], &a->live[i + 1], (size_t)(a->nlive - i - 1) * sizeof *a->live);
      a->nlive--;
      return;
    }
}

/* When a plan is larger than the device allows, the error names the largest tensors. */
static int too_large(const nn_plan *p, const size_t *size, size_t total, size_t limit, const char *which) {
  const nn_graph *g = p->m->g;
  char list[512] = "";
  size_t used = 0;
  bool *shown = nn_calloc((size_t)p->count, 1, "plan");
  for (int k = 0; k < 3 && shown; k++) {
    int best = -1;
    for (int i = 0; i < p->count; i++)
      if (!shown[i] && size[i] && (best < 0 || size[i] > size[best])) best = i;
    if (best < 0) break;
    shown[best] = true;
    used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s' (%s) %.1f MB", k ? ", " : "", g->nodes[best].name,
                             g->nodes[best].where, (double)size[best] / 1e6);
  }
  free(shown);
  return nn_fail("the plan for batch %d needs %.1f MB of device memory, more than %s (%.1f MB); largest tensors: %s. "
                 "Use a smaller batch.", p->batch, (double)total / 1e6, which, (double)limit / 1e6, list);
}

static int plan_memory(nn_plan *p, const int *targets, int ntargets) {
  const nn_graph *g = p->m->g;
  const nn_device_info *dev = nn_cl_device(p->m->cl);
  int *last_use = nn_alloc((size_t)p->count * sizeof *last_use, "plan");
  size_t *offset = nn_calloc((size_t)p->count, sizeof *offset, "plan");
  size_t *size = nn_calloc((size_t)p->count, sizeof *size, "plan");
  size_t *work_offset = nn_calloc((size_t)p->count, sizeof *work_offset, "plan");
  size_t *work_size = nn_calloc((size_t)p->count, sizeof *work_size, "plan");
  arena_plan a = {NULL, 0, 0, 0, dev->base_align > 256 ? dev->base_align : 256};
  int st = -1;
  if (!last_use || !offset || !size || !work_offset || !work_size) goto done;
  /* Last use of each storage root: the last position that reads it; targets and inputs live to the
   * end (inputs are written before the run, targets read after it). */
  for (int i = 0; i < p->count; i++) last_use[i] = -1;
  for (int k = 0; k < p->norder; k++) {
    const nn_node *n = &g->nodes[p->order[k]];
    int self = storage_root(p, p->order[k]);
    if (last_use[self] < k) last_use[self] = k;
    for (int j = 0; j < n->ninputs; j++) {
      int r = storage_root(p, n->inputs[j]);
      if (last_use[r] < k) last_use[r] = k;
    }
    if (n->op == NN_INPUT) last_use[self] = p->norder;
  }
  for (int t = 0; t < ntargets; t++) last_use[storage_root(p, targets[t])] = p->norder;
  /* Inputs are written before the run starts, so they hold their storage from the first node on:
   * no node may reuse it in between. */
  for (int k = 0; k < p->norder; k++) {
    int id = p->order[k];
    if (g->nodes[id].op != NN_INPUT) continue;
    size[id] = value_bytes(p, &g->nodes[id]);
    if (arena_take(&a, size[id], id, &offset[id]) != 0) goto done;
  }
  for (int k = 0; k < p->norder; k++) {
    int id = p->order[k];
    const nn_node *n = &g->nodes[id];
    char what[300];
    if (!lives_with_model(n) && !is_view(p, n) && n->op != NN_INPUT) {
      size[id] = value_bytes(p, n);
      /* A convolution's prepared input is the columns, or x in oneDNN's layout (nn_conv_cols). */
      nn_conv_shape s = conv_at(n, p->batch);
      size_t floats;
      if (n->op == NN_IM2COL) {
        if (nn_conv_cols(p->m->cl, &s, &floats, nn_graph_describe(g, id, what, sizeof what)) != 0) goto done;
        size[id] = floats * sizeof(float);
      }
      if (!made_by_its_pair(p, n) && arena_take(&a, size[id], id, &offset[id]) != 0) goto done;
      int db = p->bias_pair[id];
      if (n->op == NN_CONV2D_GRAD_WEIGHT && db >= 0) {
        size[db] = value_bytes(p, &g->nodes[db]);
        if (arena_take(&a, size[db], db, &offset[db]) != 0) goto done;
      }
    }
    if (uses_workspace(n)) {
      nn_conv_shape s = conv_at(n, p->batch);
      nn_conv_part part = n->op == NN_CONV2D ? NN_CONV_FORWARD
                          : n->op == NN_CONV2D_GRAD_INPUT ? NN_CONV_GRAD_INPUT : NN_CONV_GRAD_WEIGHT;
      size_t floats;
      if (nn_conv_workspace(p->m->cl, &s, part, &floats, nn_graph_describe(g, id, what, sizeof what)) != 0) goto done;
      work_size[id] = floats * sizeof(float);
      if (work_size[id] && arena_take(&a, work_size[id], -1, &work_offset[id]) != 0) goto done;
      if (work_size[id]) arena_release(&a, -1);
    }
    /* Values read for the last time here are free for the nodes after it. */
    for (int j = 0; j < n->ninputs; j++) {
      int r = storage_root(p, n->inputs[j]);
      if (last_use[r] == k && !lives_with_model(&g->nodes[r])) arena_release(&a, r);
    }
    if (last_use[id] <= k && !lives_with_model(n) && !is_view(p, n)) arena_release(&a, id);
  }
  p->arena_bytes = a.top;
  size_t persistent = nn_cl_get_stats(p->m->cl).live_bytes;
  if (a.top > dev->max_alloc) {
    too_large(p, size, a.top, dev->max_alloc, "the device's largest buffer");
    goto done;
  }
  if (a.top + persistent > dev->global_mem) {
    too_large(p, size, a.top + persistent, dev->global_mem, "the device has");
    goto done;
  }
  char what[64];
  snprintf(what, sizeof what, "activations for batch %d", p->batch);
  if (nn_cl_alloc(p->m->cl, a.top, what, &p->arena) != 0) goto done;
  /* Sub-buffers give every tensor its own cl_mem, so ops and CLBlast need no offsets. */
  for (int k = 0; k < p->norder; k++) {
    int id = p->order[k];
    const nn_node *n = &g->nodes[id];
    cl_int err = CL_SUCCESS;
    if (lives_with_model(n)) {
      p->value[id] = p->m->store[id].mem;
    } else if (is_view(p, n)) {
      p->value[id] = p->value[storage_root(p, id)];
    } else {
      cl_buffer_region region = {offset[id], round_up(size[id] ? size[id] : 4, 4)};
      p->value[id] = clCreateSubBuffer(p->arena.mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
      p->owned[id] = err == CL_SUCCESS;
    }
    if (err == CL_SUCCESS && work_size[id]) {
      cl_buffer_region region = {work_offset[id], work_size[id]};
      p->workspace[id] = clCreateSubBuffer(p->arena.mem, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
    }
    if (err != CL_SUCCESS) {
      char d[256];
      nn_cl_check(err, "create a view of the activation arena");
      nn_fail_prefix("%s", nn_graph_describe(g, id, d, sizeof d));
      goto done;
    }
  }
  st = 0;
done:
  free(last_use), free(offset), free(size), free(work_offset), free(work_size), free(a.live);
  return st;
}

int nn_plan_compile(nn_model *m, const int *targets, int ntargets, int batch, bool training, nn_plan **out) {
  *out = NULL;
  const nn_graph *g = m->g;
  if (batch < 1) return nn_fail("plan: batch size %d (must be at least 1)", batch);
  for (int t = 0; t < ntargets; t++)
    if (targets[t] < 0 || targets[t] >= g->count) return nn_fail("plan: target %d is not a node of the graph", targets[t]);
  if (nn_model_sync_leaves(m) != 0) return -1;
  nn_plan *p = nn_calloc(1, sizeof *p, "plan");
  if (!p) return -1;
  p->m = m;
  p->training = training;
  p->batch = batch;
  p->count = g->count;
  p->check_nan = nn_env("NN_CHECK") && strcmp(nn_env("NN_CHECK"), "nan") == 0;
  bool *needed = nn_calloc((size_t)g->count, sizeof *needed, "plan");
  p->order = nn_alloc((size_t)g->count * sizeof *p->order, "plan");
  p->value = nn_calloc((size_t)g->count, sizeof *p->value, "plan");
  p->workspace = nn_calloc((size_t)g->count, sizeof *p->workspace, "plan");
  p->owned = nn_calloc((size_t)g->count, sizeof *p->owned, "plan");
  p->applies = nn_alloc((size_t)g->count * sizeof *p->applies, "plan");
  p->bias_pair = nn_alloc((size_t)g->count * sizeof *p->bias_pair, "plan");
  bool *target = nn_calloc((size_t)g->count, sizeof *target, "plan");
  if (!needed || !p->order || !p->value || !p->workspace || !p->owned || !p->applies || !p->bias_pair || !target) goto fail;
  for (int t = 0; t < ntargets; t++) needed[targets[t]] = target[targets[t]] = true;
  for (int i = g->count - 1; i >= 0; i--)
    if (needed[i])
      for (int k = 0; k < g->nodes[i].ninputs; k++) needed[g->nodes[i].inputs[k]] = true;
  for (int i = 0; i < g->count; i++)
    if (needed[i]) p->order[p->norder++] = i;
  pair_bias_gradients(p);
  if (fuse_activations(p, target) != 0 || plan_memory(p, targets, ntargets) != 0) goto fail;
  free(needed);
  free(target);
  *out = p;
  return 0;
fail:
  free(needed);
  free(target);
  nn_plan_free(p);
  return -1;
}

void nn_plan_free(nn_plan *p) {
  if (!p) return;
  for (int i = 0; i < p->count; i++) {
    if (p->owned && p->owned[i]) clReleaseMemObject(p->value[i]);
    if (p->workspace && p->workspace[i]) clReleaseMemObject(p->workspace[i]);
  }
  nn_cl_free(p->m->cl, &p->arena);
  free(p->order), free(p->value), free(p->workspace), free(p->owned), free(p->applies), free(p->bias_pair);
  free(p);
}

cl_mem nn_plan_value(const nn_plan *p, int id) { return id >= 0 && id < p->count ? p->value[id] : NULL; }

nn_plan_info nn_plan_get_info(const nn_plan *p) {
  nn_plan_info info = {p->batch, p->norder, p->launches, p->arena_bytes, 0};
  const nn_model *m = p->m;
  for (int i = 0; i < m->capacity; i++) info.param_bytes += m->store[i].bytes + m->moment1[i].bytes + m->moment2[i].bytes;
  return info;
}

/* ---- running ---- */

/* The 4-D kernel dims of an aligned shape, the batch (-1) replaced by n. */
static void dims_at(const int in[4], int n, int out[4]) {
  for (int i = 0; i < 4; i++) out[i] = in[i] == -1 ? n : in[i];
}

/* The 4-D kernel dims of a binary node's operands a, b and output y at batch n. */
static void binary_dims(const nn_node *node, int n, int a[4], int b[4], int y[4]) {
  int aligned[4];
  dims_at(node->a_dims, n, a);
  dims_at(node->b_dims, n, b);
  for (int i = 0; i < 4; i++) aligned[i] = 1;
  for (int i = 0; i < node->ndim; i++) aligned[4 - node->ndim + i] = (i == 0 && node->batched) ? -1 : (int)node->shape[i];
  dims_at(aligned, n, y);
}

/* A 32-bit seed per (model seed, training run, node): dropout masks differ between steps and
 * layers, and a forward and its backward agree. */
static uint32_t dropout_seed(const nn_model *m, int node) {
  uint64_t h = nn_hash(NN_HASH_SEED, &m->seed, sizeof m->seed);
  h = nn_hash(h, &m->runs, sizeof m->runs);
  h = nn_hash(h, &node, sizeof node);
  return (uint32_t)(h ^ (h >> 32));
}

/* Batchnorm's view of x (n, c, ...) as (n, c, hw): hw is 1 for (batch, features). */
static int bn_hw(const nn_node *x) {
  int hw = 1;
  for (int i = 2; i < x->ndim; i++) hw *= (int)x->shape[i];
  return hw;
}

/* Enqueues node id for a batch of n. */
static int run_node(nn_plan *p, int id, int n) {
  nn_model *m = p->m;
  nn_cl *cl = m->cl;
  const nn_node *node = &m->g->nodes[id];
  cl_mem y = p->value[id], in[NN_MAX_INPUTS] = {0};
  for (int k = 0; k < node->ninputs; k++) in[k] = p->value[node->inputs[k]];
  const nn_node *x0 = node->ninputs ? &m->g->nodes[node->inputs[0]] : NULL;
  char what[256];
  nn_graph_describe(m->g, id, what, sizeof what);
  int numel = (int)nn_graph_numel(node, n);
  p->launches++;
  switch (node->op) {
    case NN_INPUT:
    case NN_PARAM:
    case NN_SCALAR:
    case NN_CONST:
    case NN_RESHAPE:
      p->launches--;
      return 0;
    case NN_MATMUL: {
      const nn_node *A = x0, *B = &m->g->nodes[node->inputs[1]];
      size_t a_rows = A->batched ? (size_t)n : (size_t)A->shape[0], a_cols = (size_t)A->shape[1];
      size_t b_rows = B->batched ? (size_t)n : (size_t)B->shape[0], b_cols = (size_t)B->shape[1];
      size_t rows = node->trans_a ? a_cols : a_rows, inner = node->trans_a ? a_rows : a_cols;
      size_t cols = node->trans_b ? b_rows : b_cols;
      return nn_gemm(cl, node->trans_a, node->trans_b, rows, cols, inner, 1, (nn_matrix){in[0], 0, a_cols},
                     (nn_matrix){in[1], 0, b_cols}, 0, (nn_matrix){y, 0, cols}, what);
    }
    case NN_UNARY:
      if (is_view(p, node)) { /* the node before it applied it */
        p->launches--;
        return 0;
      }
      return nn_op_unary(cl, (nn_unary)node->kind, in[0], y, numel, what);
    case NN_AFFINE: return nn_op_affine(cl, in[0], y, numel, node->a, node->b, what);
    case NN_BINARY: {
      int a[4], b[4], out[4];
      binary_dims(node, n, a, b, out);
      if (p->applies[id] >= 0)
        return nn_op_add_unary(cl, (nn_unary)m->g->nodes[p->applies[id]].kind, in[0], a, in[1], b, y, out, what);
      return nn_op_binary(cl, (nn_binary)node->kind, in[0], a, in[1], b, y, out, what);
    }
    case NN_REDUCE_TO: {
      if (made_by_its_pair(p, node)) { /* the weight gradient's launch made it */
        p->launches--;
        return 0;
      }
      int from[4], to[4];
      dims_at(node->a_dims, n, from);
      dims_at(node->reduce_dims, n, to);
      return nn_op_reduce_to(cl, in[0], from, y, to, 1.0f, what);
    }
    case NN_SUM: {
      int count = (int)nn_graph_numel(x0, n);
      return nn_op_sum(cl, in[0], y, count, node->kind ? 1.0f / (float)count : 1.0f, what);
    }
    case NN_BROADCAST: return nn_op_broadcast_scalar(cl, in[0], y, numel, node->kind ? 1.0f / (float)numel : 1.0f, what);
    case NN_SOFTMAX: {
      int cols = (int)node->shape[node->ndim - 1];
      return nn_op_softmax(cl, in[0], y, numel / cols, cols, node->kind, what);
    }
    case NN_SOFTMAX_GRAD: {
      int cols = (int)node->shape[node->ndim - 1];
      return nn_op_softmax_backward(cl, in[0], in[1], y, numel / cols, cols, node->kind, what);
    }
    case NN_CROSS_ENTROPY: return nn_op_cross_entropy(cl, in[0], in[1], y, n, (int)x0->shape[1], what);
    case NN_CE_GRAD: return nn_op_cross_entropy_backward(cl, in[0], in[1], in[2], y, n, (int)x0->shape[1], what);
    case NN_ACCURACY: return nn_op_accuracy(cl, in[0], in[1], y, n, (int)x0->shape[1], what);
    case NN_MSE: return nn_op_mse(cl, in[0], in[1], y, (int)nn_graph_numel(x0, n), what);
    case NN_MSE_GRAD: return nn_op_mse_backward(cl, in[0], in[1], in[2], y, numel, what);
    case NN_DROPOUT:
      if (!p->training) {
        p->launches--;
        return 0;
      }
      return nn_op_dropout(cl, in[0], y, in[1], numel, dropout_seed(m, id), what);
    case NN_DROPOUT_GRAD: return nn_op_dropout_backward(cl, in[0], y, in[1], numel, dropout_seed(m, node->forward), what);
    case NN_IM2COL: {
      nn_conv_shape s = conv_at(node, n);
      return nn_op_im2col(cl, &s, in[0], y, what);
    }
    case NN_CONV2D: {
      nn_conv_shape s = conv_at(node, n);
      return nn_op_conv2d(cl, &s, in[2], in[1], node->ninputs > 3 ? in[3] : NULL, p->applies[id] >= 0, y,
                          p->workspace[id], what);
    }
    case NN_CONV2D_GRAD_INPUT: {
      nn_conv_shape s = conv_at(node, n);
      return nn_op_conv2d_backward_input(cl, &s, in[0], in[1], y, p->workspace[id], what);
    }
    case NN_CONV2D_GRAD_WEIGHT: {
      nn_conv_shape s = conv_at(node, n);
      cl_mem dbias = p->bias_pair[id] >= 0 ? p->value[p->bias_pair[id]] : NULL;
      return nn_op_conv2d_backward_weight(cl, &s, in[0], in[1], y, dbias, p->workspace[id], what);
    }
    case NN_POOL2D: {
      nn_conv_shape s = conv_at(node, n);
      return nn_op_pool2d(cl, &s, node->kind, in[0], y, what);
    }
    case NN_POOL2D_GRAD: {
      nn_conv_shape s = conv_at(node, n);
      return nn_op_pool2d_backward(cl, &s, node->kind, in[0], in[1], in[2], y, what);
    }
    case NN_BATCHNORM_STATS:
      return nn_op_batchnorm_stats(cl, in[0], in[1], in[2], y, n, (int)x0->shape[1], bn_hw(x0), node->a, node->b,
                                   p->training, what);
    case NN_BATCHNORM:
      return nn_op_batchnorm(cl, in[0], in[1], in[2], in[3], y, n, (int)x0->shape[1], bn_hw(x0), what);
    case NN_BATCHNORM_SUMS:
      return nn_op_batchnorm_sums(cl, in[0], in[1], in[2], y, n, (int)x0->shape[1], bn_hw(x0), what);
    case NN_BATCHNORM_GRAD:
      return nn_op_batchnorm_backward(cl, in[0], in[1], in[2], in[3], in[4], y, n, (int)x0->shape[1], bn_hw(x0),
                                      p->training, what);
    case NN_ROW: return nn_op_slice(cl, in[0], node->kind * numel, y, numel, what);
    case NN_UNARY_GRAD: {
      bool reads_x = nn_unary_backward_reads_x((nn_unary)node->kind);
      return nn_op_unary_backward(cl, (nn_unary)node->kind, reads_x ? in[0] : NULL, reads_x ? NULL : in[0], in[1], y,
                                  numel, what);
    }
    case NN_OPCODE_COUNT: break;
  }
  return nn_fail("%s: no kernel for this op", what);
}

/* NN_CHECK=nan: waits for the node and scans its value. */
static int check_finite(nn_plan *p, int id, int n) {
  const nn_node *node = &p->m->g->nodes[id];
  /* A convolution's prepared input holds x's values and padding zeros, checked where x was made
   * (and on oneDNN not in the node's shape, so it cannot be read as the node). */
  if (node->dtype != NN_F32 || node->op == NN_INPUT || node->op == NN_IM2COL) return 0;
  size_t count = nn_graph_numel(node, n);
  float *values = nn_alloc(count * sizeof(float), "NN_CHECK");
  if (!values) return -1;
  int st = nn_plan_read(p, id, n, values, count);
  for (size_t i = 0; st == 0 && i < count; i++)
    if (!isfinite(values[i])) {
      char d[256];
      st = nn_fail("NN_CHECK=nan: %s produced %s at element %zu of %zu", nn_graph_describe(p->m->g, id, d, sizeof d),
                   isnan(values[i]) ? "NaN" : "infinity", i, count);
    }
  free(values);
  return st;
}

int nn_plan_run(nn_plan *p, int n) {
  if (n < 1 || n > p->batch) return nn_fail("run: batch of %d samples, the plan holds 1..%d", n, p->batch);
  if (nn_model_sync_leaves(p->m) != 0) return -1;
  p->launches = 0;
  for (int k = 0; k < p->norder; k++) {
    if (run_node(p, p->order[k], n) != 0) return -1;
    if (p->check_nan && check_finite(p, p->order[k], n) != 0) return -1;
  }
  if (p->training) p->m->runs++;
  return 0;
}

static int check_io(const nn_plan *p, int id, int n, size_t count, const char *op) {
  if (id < 0 || id >= p->count || !p->value[id]) return nn_fail("%s: node %d is not computed by this plan", op, id);
  const nn_node *node = &p->m->g->nodes[id];
  if (n < 1 || n > p->batch) return nn_fail("%s '%s': batch of %d, the plan holds 1..%d", op, node->name, n, p->batch);
  if (count != nn_graph_numel(node, n))
    return nn_fail("%s '%s': %zu values for a batch of %d, the node has %zu", op, node->name, count, n,
                   nn_graph_numel(node, n));
  if (node->op == NN_IM2COL) {
    /* On oneDNN the node holds x in oneDNN's layout, not the columns its shape describes. */
    char what[300];
    nn_graph_describe(p->m->g, id, what, sizeof what);
    nn_conv_shape s = conv_at(node, p->batch);
    size_t floats;
    if (nn_conv_cols(p->m->cl, &s, &floats, what) != 0) return -1;
    if (floats != nn_graph_numel(node, p->batch))
      return nn_fail("%s %s: this convolution runs on oneDNN, which keeps its input in a layout of its own, not as "
                     "columns; run with NN_CONV=im2col to %s the columns", op, what, op);
  }
  return 0;
}

int nn_plan_read(nn_plan *p, int id, int n, void *out, size_t count) {
  if (check_io(p, id, n, count, "read") != 0) return -1;
  cl_int st = clEnqueueReadBuffer(nn_cl_queue(p->m->cl), p->value[id], CL_TRUE, 0, count * 4, out, 0, NULL, NULL);
  return nn_cl_check(st, "read a node's value");
}

int nn_plan_write(nn_plan *p, int id, int n, const void *data, size_t count) {
  if (check_io(p, id, n, count, "write") != 0) return -1;
  if (p->m->g->nodes[id].op != NN_INPUT) return nn_fail("write '%s': only inputs can be written", p->m->g->nodes[id].name);
  cl_int st = clEnqueueWriteBuffer(nn_cl_queue(p->m->cl), p->value[id], CL_TRUE, 0, count * 4, data, 0, NULL, NULL);
  return nn_cl_check(st, "write an input");
}

int nn_plan_feed(nn_plan *p, int id, cl_mem column, nn_column_type type, int sample_size, cl_mem index, int start,
                 int n, float scale) {
  const nn_node *node = id >= 0 && id < p->count ? &p->m->g->nodes[id] : NULL;
  if (!node || node->op != NN_INPUT || !p->value[id]) return nn_fail("feed: node %d is not an input of this plan", id);
  if (check_io(p, id, n, (size_t)n * (size_t)sample_size, "feed") != 0) return -1;
  char what[256];
  return nn_op_gather(p->m->cl, column, type, sample_size, index, start, n, p->value[id], node->dtype == NN_I32, scale,
                      nn_graph_describe(p->m->g, id, what, sizeof what));
}
