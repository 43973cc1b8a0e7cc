/* Internal to src/graph: what autodiff needs to append nodes that users never build directly. */
#ifndef NN_GRAPH_BUILD_H
#define NN_GRAPH_BUILD_H

#include "nn_graph.h"

/* A node of opcode `op` with no inputs and shape (1); the caller fills in the rest. */
nn_node nn_graph_proto(nn_opcode op, const char *name, const char *where);
/* Appends a filled-in node (checking its name is unique); returns its id or -1. */
int nn_graph_append(nn_graph *g, nn_node *n);
/* The node's shape aligned right into 4 dimensions, the batch as -1. */
void nn_graph_align4(const nn_node *n, int dims[4]);

#endif
