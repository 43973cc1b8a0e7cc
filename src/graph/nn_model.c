/* nn_model: parameters, initialisation, optimisers and checkpoints (see nn_model.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_model_private.h"
#include "nn_ops.h"
#include "nn_rng.h"

int nn_model_new(nn_model **out, nn_graph *g, nn_cl *cl) {
  nn_model *m = nn_calloc(1, sizeof *m, "model");
  if (!m) return -1;
  m->g = g;
  m->cl = cl;
  *out = m;
  return 0;
}

static void free_state(nn_model *m) {
  for (int i = 0; i < m->capacity; i++) {
    nn_cl_free(m->cl, &m->store[i]);
    nn_cl_free(m->cl, &m->moment1[i]);
    nn_cl_free(m->cl, &m->moment2[i]);
  }
}

void nn_model_free(nn_model *m) {
  if (!m) return;
  free_state(m);
  free(m->store);
  free(m->uploaded);
  free(m->moment1);
  free(m->moment2);
  free(m);
}

nn_cl *nn_model_cl(const nn_model *m) { return m->cl; }
nn_graph *nn_model_graph(const nn_model *m) { return m->g; }
int64_t nn_model_steps(const nn_model *m) { return m->steps; }

static int grow(nn_model *m) {
  int need = m->g->count;
  if (need <= m->capacity) return 0;
  int cap = need + 64;
  nn_buffer *store = realloc(m->store, (size_t)cap * sizeof *store);
  if (store) m->store = store;
  float *uploaded = realloc(m->uploaded, (size_t)cap * sizeof *uploaded);
  if (uploaded) m->uploaded = uploaded;
  nn_buffer *m1 = realloc(m->moment1, (size_t)cap * sizeof *m1);
  if (m1) m->moment1 = m1;
  nn_buffer *m2 = realloc(m->moment2, (size_t)cap * sizeof *m2);
  if (m2) m->moment2 = m2;
  if (!store || !uploaded || !m1 || !m2) return nn_fail("model: out of host memory");
  for (int i = m->capacity; i < cap; i++) {
    memset(&m->store[i], 0, sizeof m->store[i]);
    memset(&m->moment1[i], 0, sizeof m->moment1[i]);
    memset(&m->moment2[i], 0, sizeof m->moment2[i]);
    m->uploaded[i] = NAN;
  }
  m->capacity = cap;
  return 0;
}

/* Draws n values of a parameter's initialiser. Keras truncates its normal initialisers at two
 * standard deviations (and rescales so the std is kept); we redraw outside that range the same way. */
static void draw(const nn_node *p, nn_rng *rng, float *out, size_t n) {
  double s = p->init_scale;
  for (size_t i = 0; i < n; i++) {
    double v = 0;
    switch ((nn_init)p->init) {
      case NN_INIT_ZEROS: v = 0; break;
      case NN_INIT_ONES: v = 1; break;
      case NN_INIT_GLOROT_UNIFORM:
      case NN_INIT_HE_UNIFORM:
      case NN_INIT_UNIFORM: v = (2 * nn_rng_uniform(rng) - 1) * s; break;
      case NN_INIT_GLOROT_NORMAL:
      case NN_INIT_HE_NORMAL:
        /* truncated normal with std s: the untruncated std is s / 0.87962566 */
        do v = nn_rng_normal(rng);
        while (fabs(v) > 2);
        v *= s / 0.87962566103423978;
        break;
      case NN_INIT_NORMAL: v = nn_rng_normal(rng) * s; break;
    }
    out[i] = (float)v;
  }
}

static int store_leaf(nn_model *m, int id) {
  const nn_node *n = &m->g->nodes[id];
  if (m->store[id].mem) return 0;
  char what[128];
  snprintf(what, sizeof what, "%s '%s'", n->op == NN_PARAM ? "parameter" : "scalar", n->name);
  if (nn_cl_alloc(m->cl, nn_graph_numel(n, 1) * sizeof(float), what, &m->store[id]) != 0) return -1;
  if (n->op == NN_CONST) {
    uint32_t bits;
    memcpy(&bits, &n->a, 4);
    return nn_cl_fill(m->cl, &m->store[id], 0, 4, bits);
  }
  if (n->op == NN_PARAM) return nn_cl_fill(m->cl, &m->store[id], 0, m->store[id].bytes, 0);
  return 0;
}

int nn_model_sync_leaves(nn_model *m) {
  if (grow(m) != 0) return -1;
  for (int i = 0; i < m->g->count; i++) {
    const nn_node *n = &m->g->nodes[i];
    if (n->op != NN_PARAM && n->op != NN_SCALAR && n->op != NN_CONST) continue;
    if (store_leaf(m, i) != 0) return -1;
    /* Scalars are written when their value changed: a loss weight set between runs. */
    if (n->op == NN_SCALAR && !(m->uploaded[i] == n->value)) {
      if (nn_cl_write(m->cl, &m->store[i], 0, &n->value, sizeof(float)) != 0) return -1;
      m->uploaded[i] = n->value;
    }
  }
  return 0;
}

int nn_model_init(nn_model *m, uint64_t seed) {
  if (nn_model_sync_leaves(m) != 0) return -1;
  m->seed = seed;
  m->steps = 0;
  m->runs = 0;
  for (int i = 0; i < m->g->count; i++) {
    const nn_node *n = &m->g->nodes[i];
    nn_cl_free(m->cl, &m->moment1[i]);
    nn_cl_free(m->cl, &m->moment2[i]);
    if (n->op != NN_PARAM) continue;
    size_t count = nn_graph_numel(n, 1);
    float *values = nn_alloc(count * sizeof(float), "parameter initialisation");
    if (!values) return -1;
    nn_rng rng;
    nn_rng_seed(&rng, nn_hash_str(seed, n->name));
    draw(n, &rng, values, count);
    int st = nn_cl_write(m->cl, &m->store[i], 0, values, count * sizeof(float));
    free(values);
    if (st != 0) return nn_fail_prefix("initialise '%s'", n->name);
  }
  return 0;
}

static int check_param(const nn_model *m, int id, size_t count, const char *op) {
  if (id < 0 || id >= m->g->count || m->g->nodes[id].op != NN_PARAM) return nn_fail("%s: node %d is not a parameter", op, id);
  if (count != nn_graph_numel(&m->g->nodes[id], 1))
    return nn_fail("%s '%s': %zu values given, the parameter has %zu", op, m->g->nodes[id].name, count,
                   nn_graph_numel(&m->g->nodes[id], 1));
  return 0;
}

int nn_model_read_param(nn_model *m, int id, float *out, size_t count) {
  if (check_param(m, id, count, "read parameter") != 0 || nn_model_sync_leaves(m) != 0) return -1;
  return nn_cl_read(m->cl, &m->store[id], 0, out, count * sizeof(float));
}

int nn_model_write_param(nn_model *m, int id, const float *values, size_t count) {
  if (check_param(m, id, count, "write parameter") != 0 || nn_model_sync_leaves(m) != 0) return -1;
  return nn_cl_write(m->cl, &m->store[id], 0, values, count * sizeof(float));
}

/* ---- optimisers ---- */

static int moment(nn_model *m, nn_buffer *b, int id, const char *which) {
  if (b->mem) return 0;
  char what[128];
  snprintf(what, sizeof what, "%s of '%s'", which, m->g->nodes[id].name);
  if (nn_cl_alloc(m->cl, m->store[id].bytes, what, b) != 0) return -1;
  return nn_cl_fill(m->cl, b, 0, b->bytes, 0);
}

int nn_model_optimize(nn_model *m, nn_plan *p, const int *params, const int *grads, int count, const nn_optim *o) {
  m->steps++;
  for (int i = 0; i < count; i++) {
    int id = params[i];
    if (check_param(m, id, nn_graph_numel(&m->g->nodes[id], 1), "optimise") != 0) return -1;
    if (!m->g->nodes[id].trainable)
      return nn_fail("optimise '%s': a non-trainable parameter (running statistics are updated by their op)",
                     m->g->nodes[id].name);
    cl_mem g = nn_plan_value(p, grads[i]);
    if (!g) return nn_fail("optimise '%s': the plan does not compute its gradient", m->g->nodes[id].name);
    int n = (int)nn_graph_numel(&m->g->nodes[id], 1);
    char what[128];
    snprintf(what, sizeof what, "update of '%s'", m->g->nodes[id].name);
    int st;
    if (o->kind == NN_OPTIM_ADAM) {
      if (moment(m, &m->moment1[id], id, "Adam's first moment") != 0 ||
          moment(m, &m->moment2[id], id, "Adam's second moment") != 0)
        return -1;
      st = nn_op_adam(m->cl, m->store[id].mem, g, m->moment1[id].mem, m->moment2[id].mem, n, o->lr, o->beta1, o->beta2,
                      o->eps, (int)m->steps, o->weight_decay, what);
    } else {
      if (o->momentum != 0 && moment(m, &m->moment1[id], id, "momentum") != 0) return -1;
      st = nn_op_sgd(m->cl, m->store[id].mem, g, o->momentum != 0 ? m->moment1[id].mem : NULL, n, o->lr, o->momentum,
                     o->nesterov, o->weight_decay, what);
    }
    if (st != 0) return -1;
  }
  return 0;
}

/* ---- checkpoints ----
 * Layout (little-endian host order; checkpoints move between runs, not between architectures):
 *   "NNCKPT01", u64 steps, u64 runs, u64 seed, u64 meta length, meta bytes, u32 entries, then per
 *   entry: u32 name length, name, u32 kind (0 value, 1 first moment, 2 second moment), u64 count,
 *   count floats; finally u64 FNV-1a of everything before it. */

#define CKPT_MAGIC "NNCKPT01"

typedef struct bytes_out {
  char *data;
  size_t len, cap;
  int failed;
} bytes_out;

static void put(bytes_out *b, const void *p, size_t n) {
  if (b->failed) return;
  if (b->len + n > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 1 << 20);
    while (cap < b->len + n) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static int put_buffer(nn_model *m, bytes_out *b, const char *name, uint32_t kind, const nn_buffer *buf) {
  uint32_t nlen = (uint32_t)strlen(name);
  uint64_t count = buf->bytes / sizeof(float);
  put(b, &nlen, 4), put(b, name, nlen), put(b, &kind, 4), put(b, &count, 8);
  if (b->failed) return -1;
  size_t at = b->len;
  /* reserve, then read the device buffer straight into place */
  char *zeros = calloc(1, buf->bytes ? buf->bytes : 1);
  if (!zeros) return nn_fail("checkpoint: out of host memory");
  put(b, zeros, buf->bytes);
  free(zeros);
  if (b->failed) return -1;
  return nn_cl_read(m->cl, buf, 0, b->data + at, buf->bytes);
}

int nn_model_save(nn_model *m, const char *path, const char *meta, size_t meta_len) {
  if (nn_model_sync_leaves(m) != 0) return -1;
  bytes_out b = {0};
  uint64_t header[4] = {(uint64_t)m->steps, m->runs, m->seed, meta_len};
  put(&b, CKPT_MAGIC, 8), put(&b, header, sizeof header), put(&b, meta, meta_len);
  uint32_t entries = 0;
  for (int i = 0; i < m->g->count; i++)
    if (m->g->nodes[i].op == NN_PARAM)
      entries += 1 + (m->moment1[i].mem != NULL) + (m->moment2[i].mem != NULL);
  put(&b, &entries, 4);
  int st = 0;
  for (int i = 0; i < m->g->count && st == 0; i++) {
    if (m->g->nodes[i].op != NN_PARAM) continue;
    const char *name = m->g->nodes[i].name;
    st = put_buffer(m, &b, name, 0, &m->store[i]);
    if (st == 0 && m->moment1[i].mem) st = put_buffer(m, &b, name, 1, &m->moment1[i]);
    if (st == 0 && m->moment2[i].mem) st = put_buffer(m, &b, name, 2, &m->moment2[i]);
  }
  uint64_t hash = nn_hash(NN_HASH_SEED, b.data, b.len);
  put(&b, &hash, 8);
  if (st == 0 && b.failed) st = nn_fail("checkpoint '%s': out of host memory", path);
  if (st == 0) st = nn_file_write_atomic(path, b.data, b.len);
  free(b.data);
  return st;
}

/* A bounds-checked reader: every field read names the byte offset where the file went wrong. */
typedef struct bytes_in {
  const char *data, *path;
  size_t len, at;
} bytes_in;

static int get(bytes_in *r, void *out, size_t n, const char *field) {
  if (n > r->len - r->at)
    return nn_fail("checkpoint '%s': truncated at byte %zu reading %s (%zu bytes needed, %zu left)", r->path, r->at,
                   field, n, r->len - r->at);
  memcpy(out, r->data + r->at, n);
  r->at += n;
  return 0;
}

/* One entry of a checkpoint: a parameter's values or one of its optimiser moments. */
typedef struct ckpt_entry {
  int id;         /* the parameter's node */
  uint32_t kind;  /* 0 value, 1 first moment, 2 second moment */
  size_t values;  /* byte offset of its count floats */
  size_t count;
} ckpt_entry;

/* Reads the entry at r->at and checks it against g; on success r->at is past its values. */
static int next_entry(const nn_graph *g, bytes_in *r, ckpt_entry *e) {
  uint32_t nlen = 0;
  uint64_t count = 0;
  char name[128];
  size_t where = r->at;
  if (get(r, &nlen, 4, "name length")) return -1;
  if (nlen >= sizeof name)
    return nn_fail("checkpoint '%s': byte %zu: a parameter name of %u bytes (at most %zu)", r->path, where, nlen,
                   sizeof name - 1);
  if (get(r, name, nlen, "name") || get(r, &e->kind, 4, "kind") || get(r, &count, 8, "count")) return -1;
  name[nlen] = 0;
  if (strlen(name) != nlen) return nn_fail("checkpoint '%s': byte %zu: a parameter name holds a NUL byte", r->path, where + 4);
  if (e->kind > 2)
    return nn_fail("checkpoint '%s': byte %zu: parameter '%s' has an entry of unknown kind %u", r->path, where + 4 + nlen,
                   name, e->kind);
  e->id = -1;
  for (int i = 0; i < g->count && e->id < 0; i++)
    if (g->nodes[i].op == NN_PARAM && strcmp(g->nodes[i].name, name) == 0) e->id = i;
  if (e->id < 0)
    return nn_fail("checkpoint '%s' is for another graph: it has parameter '%s' (byte %zu), this graph does not", r->path,
                   name, where);
  size_t have = nn_graph_numel(&g->nodes[e->id], 1);
  if (count != have)
    return nn_fail("checkpoint '%s' is for another graph: parameter '%s' has %llu values there (byte %zu), %zu here",
                   r->path, name, (unsigned long long)count, where + 8 + nlen, have);
  /* have counts the elements of a parameter that exists, so have * 4 does not overflow */
  if (have * sizeof(float) > r->len - r->at)
    return nn_fail("checkpoint '%s': truncated at byte %zu in parameter '%s' (%zu bytes needed, %zu left)", r->path,
                   r->at, name, have * sizeof(float), r->len - r->at);
  e->values = r->at;
  e->count = have;
  r->at += have * sizeof(float);
  return 0;
}

int nn_checkpoint_check(const nn_graph *g, const char *path, const char *data, size_t len, nn_checkpoint_info *info) {
  memset(info, 0, sizeof *info);
  if (len < 8 + 32 + 4 + 8 || memcmp(data, CKPT_MAGIC, 8) != 0)
    return nn_fail("checkpoint '%s': not an nnrun checkpoint (bad magic at byte 0, or shorter than a header)", path);
  uint64_t hash, header[4];
  memcpy(&hash, data + len - 8, 8);
  if (hash != nn_hash(NN_HASH_SEED, data, len - 8))
    return nn_fail("checkpoint '%s': damaged (checksum of %zu bytes does not match)", path, len - 8);
  bytes_in r = {data, path, len - 8, 8};
  if (get(&r, header, sizeof header, "header")) return -1;
  if (header[3] > r.len - r.at)
    return nn_fail("checkpoint '%s': byte 32: metadata length %llu exceeds the file", path,
                   (unsigned long long)header[3]);
  info->steps = (int64_t)header[0];
  info->runs = header[1];
  info->seed = header[2];
  info->meta_at = r.at;
  info->meta_len = header[3];
  r.at += header[3];
  if (get(&r, &info->entries, 4, "entry count")) return -1;
  info->entries_at = r.at;
  /* Each parameter's value must appear once, and each moment at most once. */
  unsigned char *seen = nn_calloc((size_t)g->count + 1, 3, "checkpoint check");
  if (!seen) return -1;
  int st = 0, params = 0, found = 0;
  for (int i = 0; i < g->count; i++) params += g->nodes[i].op == NN_PARAM;
  for (uint32_t i = 0; i < info->entries && st == 0; i++) {
    ckpt_entry e;
    size_t where = r.at;
    st = next_entry(g, &r, &e);
    if (st == 0 && seen[3 * (size_t)e.id + e.kind]++)
      st = nn_fail("checkpoint '%s': byte %zu: a second %s of parameter '%s'", path, where,
                   e.kind == 0 ? "value" : e.kind == 1 ? "first moment" : "second moment", g->nodes[e.id].name);
    if (st == 0 && e.kind == 0) found++;
  }
  free(seen);
  if (st != 0) return -1;
  if (found != params)
    return nn_fail("checkpoint '%s' is for another graph: it has %d parameters, this graph %d", path, found, params);
  if (r.at != r.len)
    return nn_fail("checkpoint '%s': byte %zu: %zu bytes of unexpected data after the last entry", path, r.at,
                   r.len - r.at);
  return 0;
}

int nn_model_load(nn_model *m, const char *path, char **meta, size_t *meta_len) {
  *meta = NULL;
  *meta_len = 0;
  if (nn_model_sync_leaves(m) != 0) return -1;
  char *data, *text = NULL;
  size_t len;
  if (nn_file_read(path, &data, &len) != 0) return -1;
  /* Everything is checked first, so a damaged or foreign checkpoint changes nothing. */
  nn_checkpoint_info info;
  int st = nn_checkpoint_check(m->g, path, data, len, &info);
  if (st == 0 && !(text = nn_alloc(info.meta_len + 1, "checkpoint metadata"))) st = -1;
  if (st == 0) {
    memcpy(text, data + info.meta_at, info.meta_len);
    text[info.meta_len] = 0;
    /* The optimiser state is the checkpoint's: moments it lacks start again from zero. */
    for (int i = 0; i < m->g->count; i++) {
      nn_cl_free(m->cl, &m->moment1[i]);
      nn_cl_free(m->cl, &m->moment2[i]);
    }
    bytes_in r = {data, path, len - 8, info.entries_at};
    for (uint32_t i = 0; i < info.entries && st == 0; i++) {
      ckpt_entry e;
      st = next_entry(m->g, &r, &e);
      if (st != 0) break;
      nn_buffer *buf = e.kind == 0 ? &m->store[e.id] : e.kind == 1 ? &m->moment1[e.id] : &m->moment2[e.id];
      if (e.kind > 0) st = moment(m, buf, e.id, e.kind == 1 ? "first moment" : "second moment");
      if (st == 0) st = nn_cl_write(m->cl, buf, 0, data + e.values, e.count * sizeof(float));
    }
  }
  if (st == 0) {
    m->steps = info.steps;
    m->runs = info.runs;
    m->seed = info.seed;
    *meta = text;
    *meta_len = info.meta_len;
    text = NULL;
  }
  free(text);
  free(data);
  return st;
}
