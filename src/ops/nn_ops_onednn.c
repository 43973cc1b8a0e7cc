/* oneDNN's direct convolutions as host functions in the queue of a CPU device (nn_ops_onednn.h).
 *
 * Why. On a CPU, im2col + GEMM moves the columns through memory: CNN-1's second layer writes and
 * reads 51 MB of them a step, and im2col, col2im and the transposes around the GEMMs were a third
 * of a CNN-1 step on the 2-core EPYC. oneDNN's jit:avx512_core kernels read the input where it lies,
 * in its blocked layout (nChw16c: 16 channels innermost). Measured on that layer at batch 128 with
 * the reorders between NCHW and the blocked layouts counted: forward 8.8 ms, input gradient 9.6 ms,
 * weight gradient 7.5 ms, against 60 ms for the same three through im2col and oneDNN's sgemm. It is
 * also what PyTorch's CPU convolutions run.
 *
 * How. The graph keeps NCHW everywhere. Each part converts at its edges, inside one host function:
 *   prepare (the graph's im2col node)  x (NCHW) -> x in the forward's source layout, read by the
 *                                      forward and the weight gradient alike
 *   forward                            w -> its layout; conv (+ bias, + ReLU as a post-op); -> y (NCHW)
 *   input gradient                     dy, w -> their layouts; conv backward data; -> dx (NCHW)
 *   weight gradient                    dy -> its layout; conv backward weights (+ the bias gradient);
 *                                      -> dw (OIHW)
 * The converted operands live in the part's workspace, which the graph plans like any other.
 *
 * Which. A part runs here only if oneDNN offers a real kernel for it: an implementation whose name
 * is a "ref" one (a reference loop, 1000x slower) or a "gemm" one (oneDNN's own im2col) is refused, and
 * nn_ops_conv.c's im2col path takes that part instead. The prepared input serves two parts, so a
 * shape's input is prepared here only if both its forward and its weight gradient run here, in the
 * same source layout.
 *
 * The primitives, compiled for a shape, are kept for the life of the process in a list: a training
 * run meets a handful of shapes (its layers, at the batch size and the epoch's last, smaller batch). */
#include "nn_ops_onednn.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"

/* What one part computes, with the reorders at its edges. Reorders are NULL where the layouts
 * already agree. */
struct nn_onednn_conv {
  nn_onednn_key key;
  bool ok;                       /* oneDNN has a real kernel for it */
  char impl[64];                 /* the implementation oneDNN chose, for errors and the profile */
  dnnl_primitive_t conv;
  dnnl_memory_desc_t x, w, y;    /* the user's layouts: x and y NCHW, w OIHW */
  dnnl_memory_desc_t src, wei, dst;  /* the primitive's (diff_ ones in the backward parts) */
  dnnl_memory_desc_t bias;
  dnnl_primitive_t to_src, to_wei, to_dst;      /* user -> primitive */
  dnnl_primitive_t from_src, from_wei, from_dst;  /* primitive -> user */
  size_t at_wei, at_dst, at_src, at_scratch;  /* workspace offsets (bytes) of converted operands */
  dnnl_memory_desc_t scratch;    /* the largest scratchpad of the primitives here */
  size_t ws_bytes;
  struct nn_onednn_conv *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static nn_onednn_conv *convs;
static dnnl_engine_t engine;

static int dnnl_fail(dnnl_status_t st, const char *call, const char *what) {
  return nn_fail("%s: oneDNN %s failed (status %d)", what, call, (int)st);
}

static bool same_md(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) { return dnnl_memory_desc_equal(a, b); }

/* Attributes every primitive here is made with: the scratchpad is ours (a part of the workspace).
 * oneDNN's own would be a buffer local to the thread that made the primitive, which is not the
 * PoCL worker that runs it. */
static dnnl_status_t user_scratchpad(dnnl_primitive_attr_t *attr) {
  dnnl_status_t st = dnnl_primitive_attr_create(attr);
  if (st == dnnl_success) st = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
  return st;
}

/* Grows c->scratch to pd's scratchpad if that is larger. */
static void need_scratch(nn_onednn_conv *c, const_dnnl_primitive_desc_t pd) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (md && dnnl_memory_desc_get_size(md) > dnnl_memory_desc_get_size(&c->scratch)) c->scratch = *md;
}

/* A reorder from -> to, or NULL (nothing to do) if they are the same layout. */
static dnnl_status_t reorder(nn_onednn_conv *c, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                             dnnl_primitive_t *out) {
  *out = NULL;
  if (same_md(from, to)) return dnnl_success;
  dnnl_primitive_attr_t attr;
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = user_scratchpad(&attr);
  if (st == dnnl_success) st = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success) return st;
  need_scratch(c, pd);
  st = dnnl_primitive_create(out, pd);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

/* Bytes at `at`, rounded up to whole cache lines, so that every operand starts on one. */
static size_t take(size_t *at, const dnnl_memory_desc_t *md) {
  size_t start = *at;
  *at += (dnnl_memory_desc_get_size(md) + 63) / 64 * 64;
  return start;
}

/* Names look like "jit:avx512_core", "ref:any" or "x64:gemm:jit". */
static bool real_kernel(const char *impl) { return !strstr(impl, "ref") && !strstr(impl, "gemm"); }

/* The forward's primitive description for key's shape, with its bias and ReLU. */
static dnnl_status_t forward_pd(const nn_onednn_key *k, const dnnl_memory_desc_t any[3], const dnnl_memory_desc_t *bias,
                                dnnl_primitive_desc_t *pd) {
  const nn_conv_shape *s = &k->s;
  dnnl_dims_t strides = {s->stride_h, s->stride_w}, pad_l = {s->pad_top, s->pad_left},
              pad_r = {s->pad_bottom, s->pad_right};
  dnnl_convolution_desc_t d;
  dnnl_status_t st = dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &any[0],
                                                        &any[1], k->bias ? bias : NULL, &any[2], strides, pad_l, pad_r);
  if (st != dnnl_success) return st;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  if ((st = user_scratchpad(&attr)) != dnnl_success) goto done;
  if (k->relu) {
    if ((st = dnnl_post_ops_create(&ops)) != dnnl_success ||
        (st = dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f)) != dnnl_success ||
        (st = dnnl_primitive_attr_set_post_ops(attr, ops)) != dnnl_success)
      goto done;
  }
  st = dnnl_primitive_desc_create(pd, &d, attr, engine, NULL);
done:
  if (ops) dnnl_post_ops_destroy(ops);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return st;
}

/* Compiles c->key's part: its primitive, the reorders around it and its workspace. c->ok stays
 * false where oneDNN has no real kernel for it; a failure is an error only past that point. */
static int build(nn_onednn_conv *c, const char *what) {
  const nn_onednn_key *k = &c->key;
  const nn_conv_shape *s = &k->s;
  dnnl_status_t st;
  if (!engine && (st = dnnl_engine_create(&engine, dnnl_cpu, 0)) != dnnl_success)
    return dnnl_fail(st, "engine creation", what);
  dnnl_dims_t xd = {s->n, s->c, s->h, s->w}, wd = {s->oc, s->c, s->kh, s->kw}, yd = {s->n, s->oc, s->out_h, s->out_w},
              bd = {s->oc};
  dnnl_memory_desc_t any[3];
  if ((st = dnnl_memory_desc_init_by_tag(&c->x, 4, xd, dnnl_f32, dnnl_nchw)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&c->w, 4, wd, dnnl_f32, dnnl_oihw)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&c->y, 4, yd, dnnl_f32, dnnl_nchw)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&c->bias, 1, bd, dnnl_f32, dnnl_x)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&any[0], 4, xd, dnnl_f32, dnnl_format_tag_any)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&any[1], 4, wd, dnnl_f32, dnnl_format_tag_any)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&any[2], 4, yd, dnnl_f32, dnnl_format_tag_any)) != dnnl_success)
    return dnnl_fail(st, "memory description", what);
  /* The backward parts take the forward (with a bias, without ReLU) as their hint, as oneDNN asks:
   * it makes them agree with the forward's layouts. */
  nn_onednn_key plain = {*s, NN_CONV_FORWARD, true, false};
  dnnl_primitive_desc_t hint = NULL, pd = NULL;
  if (forward_pd(k->part == NN_CONV_FORWARD ? k : &plain, any, &c->bias, &hint) != dnnl_success) return 0;
  dnnl_dims_t strides = {s->stride_h, s->stride_w}, pad_l = {s->pad_top, s->pad_left},
              pad_r = {s->pad_bottom, s->pad_right};
  dnnl_convolution_desc_t d;
  dnnl_primitive_attr_t attr;
  if ((st = user_scratchpad(&attr)) != dnnl_success) {
    dnnl_primitive_desc_destroy(hint);
    return dnnl_fail(st, "attributes", what);
  }
  if (k->part == NN_CONV_FORWARD) {
    pd = hint, hint = NULL;
  } else if (k->part == NN_CONV_GRAD_INPUT) {
    if (dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &any[0], &any[1], &any[2], strides,
                                                 pad_l, pad_r) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &d, attr, engine, hint) != dnnl_success)
      pd = NULL;
  } else if (dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &any[0], &any[1],
                                                         k->bias ? &c->bias : NULL, &any[2], strides, pad_l,
                                                         pad_r) != dnnl_success ||
             dnnl_primitive_desc_create(&pd, &d, attr, engine, hint) != dnnl_success) {
    pd = NULL;
  }
  dnnl_primitive_attr_destroy(attr);
  if (hint) dnnl_primitive_desc_destroy(hint);
  if (!pd) return 0;
  const char *impl = "?";
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  snprintf(c->impl, sizeof c->impl, "%s", impl);
  bool fwd = k->part == NN_CONV_FORWARD, bwd_w = k->part == NN_CONV_GRAD_WEIGHT;
  c->src = *dnnl_primitive_desc_query_md(pd, fwd || bwd_w ? dnnl_query_src_md : dnnl_query_diff_src_md, 0);
  c->wei = *dnnl_primitive_desc_query_md(pd, bwd_w ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  c->dst = *dnnl_primitive_desc_query_md(pd, fwd ? dnnl_query_dst_md : dnnl_query_diff_dst_md, 0);
  if (!real_kernel(c->impl)) {
    dnnl_primitive_desc_destroy(pd);
    return 0;
  }
  need_scratch(c, pd);
  st = dnnl_primitive_create(&c->conv, pd);
  dnnl_primitive_desc_destroy(pd);
  if (st != dnnl_success) return dnnl_fail(st, "convolution primitive", what);
  /* The reorders this part makes, and where their results go in the workspace. */
  size_t at = 0;
  if (fwd) {
    /* The preparation runs with no workspace, so it must need no scratchpad. */
    dnnl_memory_desc_t conv_scratch = c->scratch;
    memset(&c->scratch, 0, sizeof c->scratch);
    if ((st = reorder(c, &c->x, &c->src, &c->to_src)) != dnnl_success) return dnnl_fail(st, "reorder", what);
    if (dnnl_memory_desc_get_size(&c->scratch) > 0) return 0;
    c->scratch = conv_scratch;
    if ((st = reorder(c, &c->w, &c->wei, &c->to_wei)) != dnnl_success ||
        (st = reorder(c, &c->dst, &c->y, &c->from_dst)) != dnnl_success)
      return dnnl_fail(st, "reorder", what);
    if (c->to_wei) c->at_wei = take(&at, &c->wei);
    if (c->from_dst) c->at_dst = take(&at, &c->dst);
  } else {
    if ((st = reorder(c, &c->y, &c->dst, &c->to_dst)) != dnnl_success) return dnnl_fail(st, "reorder", what);
    if (c->to_dst) c->at_dst = take(&at, &c->dst);
    if (bwd_w) {
      if ((st = reorder(c, &c->wei, &c->w, &c->from_wei)) != dnnl_success) return dnnl_fail(st, "reorder", what);
      if (c->from_wei) c->at_wei = take(&at, &c->wei);
    } else {
      if ((st = reorder(c, &c->w, &c->wei, &c->to_wei)) != dnnl_success ||
          (st = reorder(c, &c->src, &c->x, &c->from_src)) != dnnl_success)
        return dnnl_fail(st, "reorder", what);
      if (c->to_wei) c->at_wei = take(&at, &c->wei);
      if (c->from_src) c->at_src = take(&at, &c->src);
    }
  }
  c->at_scratch = take(&at, &c->scratch);
  c->ws_bytes = at;
  c->ok = true;
  return 0;
}

int nn_onednn_conv_get(const nn_onednn_key *key, const nn_onednn_conv **out, const char *what) {
  nn_onednn_key k;
  memset(&k, 0, sizeof k); /* the key is compared bytewise: no stray padding */
  k.s = key->s, k.part = key->part, k.bias = key->bias, k.relu = key->relu;
  /* The input gradient depends on neither; the weight gradient computes the bias gradient when asked. */
  if (k.part != NN_CONV_FORWARD) k.relu = false;
  if (k.part == NN_CONV_GRAD_INPUT) k.bias = false;
  pthread_mutex_lock(&lock);
  nn_onednn_conv *c = convs;
  while (c && memcmp(&c->key, &k, sizeof k) != 0) c = c->next;
  int st = 0;
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c) {
      st = nn_fail("%s: out of memory for a oneDNN convolution", what);
    } else {
      c->key = k;
      st = build(c, what);
      /* Kept even when refused, so that the next call does not ask oneDNN again. */
      c->next = convs, convs = c;
    }
  }
  pthread_mutex_unlock(&lock);
  *out = st == 0 && c->ok ? c : NULL;
  return st;
}

size_t nn_onednn_workspace(const nn_onednn_conv *c) { return c->ws_bytes; }
size_t nn_onednn_source_bytes(const nn_onednn_conv *c) { return dnnl_memory_desc_get_size(&c->src); }
bool nn_onednn_same_source(const nn_onednn_conv *a, const nn_onednn_conv *b) { return same_md(&a->src, &b->src); }
const char *nn_onednn_impl(const nn_onednn_conv *c) { return c->impl; }

/* ---- running them ---- */

/* What a host function runs: one part, or the preparation of the input (prepare). */
typedef struct conv_job {
  const nn_onednn_conv *c;
  bool prepare;
  int threads;
} conv_job;

/* Runs prim on args, with the scratchpad at `scratch`; the memories wrap host addresses and are
 * released after. */
static void execute(const nn_onednn_conv *c, void *scratch, dnnl_primitive_t prim, int nargs, const int *kinds,
                    const dnnl_memory_desc_t *const *mds, void *const *ptrs) {
  static dnnl_stream_t stream;
  if (!stream && dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) abort();
  dnnl_memory_t mem[6];
  dnnl_exec_arg_t args[6];
  for (int i = 0; i < nargs; i++) {
    if (dnnl_memory_create(&mem[i], mds[i], engine, ptrs[i]) != dnnl_success) abort();
    args[i] = (dnnl_exec_arg_t){kinds[i], mem[i]};
  }
  if (scratch && dnnl_memory_desc_get_size(&c->scratch) > 0) {
    if (dnnl_memory_create(&mem[nargs], &c->scratch, engine, scratch) != dnnl_success) abort();
    args[nargs] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[nargs]};
    nargs++;
  }
  /* Every argument was checked on the host before the launch: oneDNN has nothing left to refuse,
   * and a host function has no way to report an error but to stop the process. */
  if (dnnl_primitive_execute(prim, stream, nargs, args) != dnnl_success || dnnl_stream_wait(stream) != dnnl_success)
    abort();
  for (int i = 0; i < nargs; i++) dnnl_memory_destroy(mem[i]);
}

static void run_reorder(const nn_onednn_conv *c, void *scratch, dnnl_primitive_t r, const dnnl_memory_desc_t *from,
                        void *src, const dnnl_memory_desc_t *to, void *dst) {
  const int kinds[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
  const dnnl_memory_desc_t *mds[2] = {from, to};
  void *ptrs[2] = {src, dst};
  execute(c, scratch, r, 2, kinds, mds, ptrs);
}

/* addr, by part: prepare (x, prepared); forward (prepared, w, bias or y, y, ws); input gradient
 * (dy, w, dx, ws); weight gradient (prepared, dy, dw, ws[, dbias]). */
static void conv_run(void *p, char *const *addr) {
  const conv_job *job = p;
  const nn_onednn_conv *c = job->c;
  omp_set_num_threads(job->threads);
  if (job->prepare) {
    if (c->to_src) run_reorder(c, NULL, c->to_src, &c->x, addr[0], &c->src, addr[1]);
    else memcpy(addr[1], addr[0], dnnl_memory_desc_get_size(&c->x));
    return;
  }
  switch (c->key.part) {
    case NN_CONV_FORWARD: {
      char *ws = addr[4];
      void *wei = c->to_wei ? ws + c->at_wei : addr[1], *dst = c->from_dst ? ws + c->at_dst : addr[3];
      if (c->to_wei) run_reorder(c, ws + c->at_scratch, c->to_wei, &c->w, addr[1], &c->wei, wei);
      const int kinds[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
      const dnnl_memory_desc_t *mds[4] = {&c->src, &c->wei, &c->dst, &c->bias};
      void *ptrs[4] = {addr[0], wei, dst, addr[2]};
      execute(c, ws + c->at_scratch, c->conv, c->key.bias ? 4 : 3, kinds, mds, ptrs);
      if (c->from_dst) run_reorder(c, ws + c->at_scratch, c->from_dst, &c->dst, dst, &c->y, addr[3]);
      return;
    }
    case NN_CONV_GRAD_INPUT: {
      char *ws = addr[3];
      void *dy = c->to_dst ? ws + c->at_dst : addr[0], *wei = c->to_wei ? ws + c->at_wei : addr[1];
      void *dx = c->from_src ? ws + c->at_src : addr[2];
      if (c->to_dst) run_reorder(c, ws + c->at_scratch, c->to_dst, &c->y, addr[0], &c->dst, dy);
      if (c->to_wei) run_reorder(c, ws + c->at_scratch, c->to_wei, &c->w, addr[1], &c->wei, wei);
      const int kinds[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
      const dnnl_memory_desc_t *mds[3] = {&c->dst, &c->wei, &c->src};
      void *ptrs[3] = {dy, wei, dx};
      execute(c, ws + c->at_scratch, c->conv, 3, kinds, mds, ptrs);
      if (c->from_src) run_reorder(c, ws + c->at_scratch, c->from_src, &c->src, dx, &c->x, addr[2]);
      return;
    }
    case NN_CONV_GRAD_WEIGHT: {
      char *ws = addr[3];
      void *dy = c->to_dst ? ws + c->at_dst : addr[1], *dw = c->from_wei ? ws + c->at_wei : addr[2];
      if (c->to_dst) run_reorder(c, ws + c->at_scratch, c->to_dst, &c->y, addr[1], &c->dst, dy);
      const int kinds[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
      const dnnl_memory_desc_t *mds[4] = {&c->src, &c->dst, &c->wei, &c->bias};
      void *ptrs[4] = {addr[0], dy, dw, c->key.bias ? addr[4] : NULL};
      execute(c, ws + c->at_scratch, c->conv, c->key.bias ? 4 : 3, kinds, mds, ptrs);
      if (c->from_wei) run_reorder(c, ws + c->at_scratch, c->from_wei, &c->wei, dw, &c->w, addr[2]);
      return;
    }
  }
}

int nn_onednn_enqueue(nn_cl *cl, const nn_onednn_conv *c, bool prepare, const cl_mem *mem, int nmem,
                      const char *what) {
  conv_job *job = nn_alloc(sizeof *job, what);
  if (!job) return -1;
  *job = (conv_job){c, prepare, (int)nn_cl_device(cl)->compute_units};
  static const char *names[] = {"onednn conv forward", "onednn conv input gradient", "onednn conv weight gradient"};
  double t = nn_cl_launch_begin(cl);
  cl_event ev;
  if (nn_cl_enqueue_host(cl, conv_run, job, mem, nmem, nn_cl_launch_event(cl, &ev), what) != 0) return -1;
  return nn_cl_launch_end(cl, t, prepare ? "onednn layout of a conv input" : names[c->key.part], CL_SUCCESS, ev, what);
}
