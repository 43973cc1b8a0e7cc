/* Internal to src/graph: the model's state, shared by nn_model.c and nn_plan.c. */
#ifndef NN_MODEL_PRIVATE_H
#define NN_MODEL_PRIVATE_H

#include "nn_model.h"

struct nn_model {
  nn_graph *g;
  nn_cl *cl;
  int capacity;          /* entries in the per-node arrays below (grows with the graph) */
  nn_buffer *store;      /* per node: parameters, scalars and constants, which outlive runs */
  float *uploaded;       /* per scalar node: the value last written to the device */
  nn_buffer *moment1;    /* per parameter: SGD velocity or Adam's first moment */
  nn_buffer *moment2;    /* per parameter: Adam's second moment */
  int64_t steps;         /* optimiser steps since init (Adam's t) */
  uint64_t runs;         /* training runs since init: part of each dropout seed */
  uint64_t seed;
};

/* Makes sure every leaf node that lives with the model (parameters, scalars, constants) has
 * storage, and that scalars on the device hold their current values. */
int nn_model_sync_leaves(nn_model *m);

#endif
