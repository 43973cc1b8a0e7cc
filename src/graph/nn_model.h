/* nn_model: a graph bound to a device. The model holds what outlives a run: parameters, scalar
 * values, optimiser state and the training step. Plans (nn_plan) hold what one kind of run needs:
 * the nodes to compute, in order, and their storage in one arena.
 *
 * A plan is compiled for a set of target nodes (outputs, losses, gradients, any activation a user
 * wants to read), a largest batch size and a mode (training: dropout active, batchnorm on the
 * batch's statistics, updating the running ones; evaluation: batchnorm on the running ones).
 * Compiling plans is cheap and touches no kernel source: every op's kernels are generic in their
 * sizes, so a sweep that changes a loss weight or reinitialises the weights compiles nothing.
 *
 * Memory: values whose lifetimes do not overlap share storage (greedy first-fit over the run
 * order); targets live to the end of the run so they can be read; views (reshape, dropout in
 * evaluation) share their input's storage. A layer's bias add (any unary after it) or
 * convolution (a ReLU after it) applies the activation in its own output pass when the activation
 * is its only reader: the activation is then a view too, and the pre-activation is never stored.
 * Ask for the pre-activation as a target to read it, and the two run apart.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "nn_cl.h"
#include "nn_graph.h"

typedef struct nn_model nn_model;
typedef struct nn_plan nn_plan;

/* The model does not own the graph; the graph must outlive it. */
int nn_model_new(nn_model **m, nn_graph *g, nn_cl *cl);
void nn_model_free(nn_model *m);
nn_cl *nn_model_cl(const nn_model *m);
nn_graph *nn_model_graph(const nn_model *m);

/* Draws every parameter from its initialiser with a generator seeded by (seed, parameter name),
 * so a parameter's values do not depend on what else is in the graph; clears optimiser state and
 * the step counter. */
int nn_model_init(nn_model *m, uint64_t seed);

/* Host copies of a parameter's values (count floats), e.g. for filters and perceptron weights. */
int nn_model_read_param(nn_model *m, int id, float *out, size_t count);
int nn_model_write_param(nn_model *m, int id, const float *values, size_t count);

/* Optimiser hyperparameters: runtime values, passed at each step. */
typedef struct nn_optim {
  enum { NN_OPTIM_SGD, NN_OPTIM_ADAM } kind;
  float lr, momentum, weight_decay;  /* SGD (weight_decay also for Adam) */
  bool nesterov;
  float beta1, beta2, eps;           /* Adam */
} nn_optim;

/* One optimiser step for each (param, grad) pair, the gradients taken from the plan's last run. */
int nn_model_optimize(nn_model *m, nn_plan *p, const int *params, const int *grads, int count, const nn_optim *o);
/* Optimiser steps taken since nn_model_init (Adam's t). */
int64_t nn_model_steps(const nn_model *m);

/* Checkpoints: every parameter, the optimiser state and the step counter, plus `meta` (the Lua
 * side's training state), written atomically. Loading checks the file's integrity and that its
 * parameters match this graph by name and shape. *meta is malloc'd. */
int nn_model_save(nn_model *m, const char *path, const char *meta, size_t meta_len);
int nn_model_load(nn_model *m, const char *path, char **meta, size_t *meta_len);

/* What nn_checkpoint_check found in a checkpoint's bytes. */
typedef struct nn_checkpoint_info {
  int64_t steps;
  uint64_t runs, seed;
  size_t meta_at, meta_len;  /* the Lua side's training state: meta_len bytes from byte meta_at */
  size_t entries_at;         /* byte where the first entry starts */
  uint32_t entries;
} nn_checkpoint_info;

/* Checks a whole checkpoint file's bytes against graph g, touching no device: the magic, the
 * checksum, every length, and that the entries are exactly g's parameters (each value once, with
 * its size) plus optimiser moments, with nothing after them. Messages name `path` and the byte
 * offset. nn_model_load calls it before it changes anything. */
int nn_checkpoint_check(const nn_graph *g, const char *path, const char *data, size_t len, nn_checkpoint_info *info);

/* ---- plans ---- */

int nn_plan_compile(nn_model *m, const int *targets, int ntargets, int batch, bool training, nn_plan **p);
void nn_plan_free(nn_plan *p);

/* Enqueues the whole plan for a batch of n <= batch samples; no host synchronisation. Inputs must
 * have been fed (nn_plan_feed / nn_plan_write). With NN_CHECK=nan it waits after every node and
 * stops at the first one producing a NaN or infinity, naming it and its script line. */
int nn_plan_run(nn_plan *p, int n);

/* The storage of node `id` in this plan (NULL if the plan does not compute it). */
cl_mem nn_plan_value(const nn_plan *p, int id);
/* Copies node id's value for a batch of n to the host (waits); count elements of out's dtype. */
int nn_plan_read(nn_plan *p, int id, int n, void *out, size_t count);
/* Writes an input's value for a batch of n from the host. */
int nn_plan_write(nn_plan *p, int id, int n, const void *data, size_t count);
/* Fills an input from a data set on the device (nn_op_gather): rows index[start .. start+n). */
int nn_plan_feed(nn_plan *p, int id, cl_mem column, nn_column_type type, int sample_size, cl_mem index, int start,
                 int n, float scale);

/* Sizes, for summary and bench/. */
typedef struct nn_plan_info {
  int batch;
  int nodes;             /* nodes run */
  int launches;          /* kernel launches and GEMMs per run, as enqueued */
  size_t arena_bytes;    /* activations, gradients and workspaces */
  size_t param_bytes;    /* parameters, scalars and optimiser state held by the model */
} nn_plan_info;
nn_plan_info nn_plan_get_info(const nn_plan *p);

#endif
