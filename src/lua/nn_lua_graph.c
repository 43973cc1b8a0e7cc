/* nn._graph: graphs, models, plans and device arrays for the Lua library (lua/nn/graph.lua and
 * lua/nn/train.lua). Every node constructor takes the script position `where` last: the Lua
 * library finds the user's line, so errors point at the script, not at the library. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_graph.h"
#include "nn_lua.h"
#include "nn_model.h"
#include "nn_ops.h"

#define GRAPH_MT "nn.Graph"
#define MODEL_MT "nn.Model"
#define PLAN_MT "nn.Plan"
#define ARRAY_MT "nn.DeviceArray"

typedef struct { nn_graph *g; } graph_ud;
typedef struct { nn_model *m; } model_ud;
typedef struct { nn_plan *p; nn_model *m; } plan_ud;

/* A data set (or accumulator) held on the device. */
typedef struct {
  nn_buffer buf;
  nn_column_type type;
  int count;        /* samples (rows) */
  int sample_size;  /* elements per sample */
  int ndim;
  int64_t shape[NN_MAX_DIMS];
} array_ud;

static nn_graph *check_graph(lua_State *L, int i) {
  graph_ud *u = luaL_checkudata(L, i, GRAPH_MT);
  return u->g;
}
static nn_model *check_model(lua_State *L, int i) {
  model_ud *u = luaL_checkudata(L, i, MODEL_MT);
  if (!u->m) luaL_error(L, "model is closed");
  return u->m;
}
static plan_ud *check_plan(lua_State *L, int i) {
  plan_ud *u = luaL_checkudata(L, i, PLAN_MT);
  if (!u->p) luaL_error(L, "plan is freed");
  return u;
}
static array_ud *check_array(lua_State *L, int i) { return luaL_checkudata(L, i, ARRAY_MT); }

/* Node ids in Lua are the C ids (0-based integers wrapped by lua/nn/graph.lua); -1 is "none".
 * These functions are called by lua/nn/graph.lua and train.lua, so argument errors go through
 * nn_lua_error and name the user's script line. */
static int check_id(lua_State *L, int i) { return (int)nn_lua_check_int(L, i, -1, INT_MAX, "node id"); }
/* An int-sized argument (a size, a stride, a batch): never truncated; the core checks its range. */
static int check_int(lua_State *L, int i, const char *what) { return (int)nn_lua_check_int(L, i, INT_MIN, INT_MAX, what); }
static const char *check_name(lua_State *L, int i, const char *fn) {
  if (lua_type(L, i) != LUA_TSTRING) nn_lua_error(L, "%s: the name must be a string, got %s", fn, luaL_typename(L, i));
  return lua_tostring(L, i);
}
static const char *opt_name(lua_State *L, int i) { return luaL_optstring(L, i, NULL); }
static const char *where_at(lua_State *L, int i) { return luaL_optstring(L, i, "?"); }

/* A node constructor's result: its id, or the error, which already starts with the script
 * position ("mlp.lua:7: linear 'fc2': ..."). */
static int node_result(lua_State *L, int id) {
  if (id < 0) {
    lua_pushstring(L, nn_error());
    return lua_error(L);
  }
  lua_pushinteger(L, id);
  return 1;
}

/* A shape {d1, d2, ...}; `what` names the node in messages ("input 'x'"). */
static int read_shape(lua_State *L, int i, int64_t *shape, const char *what) {
  if (!lua_istable(L, i)) nn_lua_error(L, "%s: the shape must be a table like {784}, got %s", what, luaL_typename(L, i));
  lua_Integer n = luaL_len(L, i);
  if (n > NN_MAX_DIMS) nn_lua_error(L, "%s: the shape has %I dimensions (at most %d)", what, n, NN_MAX_DIMS);
  for (int k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    int ok;
    shape[k] = lua_tointegerx(L, -1, &ok);
    if (!ok) nn_lua_error(L, "%s: shape entry %d is %s, not a whole number", what, k + 1, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
  }
  return (int)n;
}

static nn_dtype opt_dtype(lua_State *L, int i, const char *what) {
  const char *name = lua_isnoneornil(L, i) ? "float32" : lua_tostring(L, i);
  if (name && strcmp(name, "float32") == 0) return NN_F32;
  if (name && strcmp(name, "int32") == 0) return NN_I32;
  return nn_lua_error(L, "%s: dtype %s is not \"float32\" or \"int32\"", what, luaL_tolstring(L, i, NULL));
}

/* ---- graph ---- */

static int graph_new(lua_State *L) {
  graph_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->g = NULL;
  luaL_setmetatable(L, GRAPH_MT);
  u->g = nn_graph_new();
  if (!u->g) return nn_lua_raise(L);
  return 1;
}

static int graph_gc(lua_State *L) {
  graph_ud *u = luaL_checkudata(L, 1, GRAPH_MT);
  nn_graph_free(u->g);
  u->g = NULL;
  return 0;
}

/* g:input(name, shape, dtype, where) */
static int graph_input(lua_State *L) {
  int64_t shape[NN_MAX_DIMS];
  nn_graph *g = check_graph(L, 1);
  const char *name = check_name(L, 2, "input"), *what = lua_pushfstring(L, "input '%s'", name);
  int nd = read_shape(L, 3, shape, what);
  return node_result(L, nn_graph_input(g, name, opt_dtype(L, 4, what), nd, shape, where_at(L, 5)));
}

/* g:param(name, shape, init, scale, fan_in, fan_out, trainable, where) */
static int graph_param(lua_State *L) {
  static const char *const inits[] = {"zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform",
                                      "he_normal", "uniform", "normal", NULL};
  int64_t shape[NN_MAX_DIMS];
  nn_graph *g = check_graph(L, 1);
  const char *name = check_name(L, 2, "param"), *what = lua_pushfstring(L, "param '%s'", name);
  int nd = read_shape(L, 3, shape, what);
  const char *init_name = lua_isnoneornil(L, 4) ? "glorot_uniform" : lua_tostring(L, 4);
  int init = 0;
  while (inits[init] && !(init_name && strcmp(inits[init], init_name) == 0)) init++;
  if (!inits[init])
    return nn_lua_error(L, "%s: unknown init %s (zeros, ones, glorot_uniform, glorot_normal, he_uniform, he_normal, "
                        "uniform, normal)", what, luaL_tolstring(L, 4, NULL));
  int ok = 1;
  double scale = lua_isnoneornil(L, 5) ? 0.05 : lua_tonumberx(L, 5, &ok);
  if (!ok) return nn_lua_error(L, "%s: scale must be a number, got %s", what, luaL_typename(L, 5));
  int64_t fan_in = lua_isnoneornil(L, 6) ? 1 : nn_lua_check_int(L, 6, INT64_MIN, INT64_MAX, "param: fan_in");
  int64_t fan_out = lua_isnoneornil(L, 7) ? 1 : nn_lua_check_int(L, 7, INT64_MIN, INT64_MAX, "param: fan_out");
  bool trainable = lua_isnoneornil(L, 8) || lua_toboolean(L, 8);
  return node_result(L, nn_graph_param(g, name, nd, shape, (nn_init)init, scale, fan_in, fan_out, trainable,
                                       where_at(L, 9)));
}

/* g:scalar(name, value, where) */
static int graph_scalar(lua_State *L) {
  return node_result(L, nn_graph_scalar(check_graph(L, 1), opt_name(L, 2), (float)luaL_checknumber(L, 3), where_at(L, 4)));
}

/* g:set_scalar(id, value) / g:get_scalar(id): runtime values, no recompilation. */
static nn_node *check_scalar(lua_State *L, nn_graph *g, int id) {
  if (id < 0 || id >= g->count || g->nodes[id].op != NN_SCALAR) luaL_error(L, "node %d is not a scalar", id);
  return &g->nodes[id];
}
static int graph_set_scalar(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  check_scalar(L, g, check_id(L, 2))->value = (float)luaL_checknumber(L, 3);
  return 0;
}
static int graph_get_scalar(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  lua_pushnumber(L, check_scalar(L, g, check_id(L, 2))->value);
  return 1;
}

static int graph_matmul(lua_State *L) {
  return node_result(L, nn_graph_matmul(check_graph(L, 1), check_id(L, 2), check_id(L, 3), lua_toboolean(L, 4),
                                        lua_toboolean(L, 5), opt_name(L, 6), where_at(L, 7)));
}

static int graph_unary(lua_State *L) {
  static const char *const fns[] = {"relu", "sigmoid", "tanh", "exp", "log", "square", NULL};
  return node_result(L, nn_graph_unary(check_graph(L, 1), (nn_unary)luaL_checkoption(L, 2, NULL, fns), check_id(L, 3),
                                       opt_name(L, 4), where_at(L, 5)));
}

static int graph_affine(lua_State *L) {
  return node_result(L, nn_graph_affine(check_graph(L, 1), check_id(L, 2), (float)luaL_checknumber(L, 3),
                                        (float)luaL_checknumber(L, 4), opt_name(L, 5), where_at(L, 6)));
}

static int graph_binary(lua_State *L) {
  static const char *const ops[] = {"add", "sub", "mul", "div", NULL};
  return node_result(L, nn_graph_binary(check_graph(L, 1), (nn_binary)luaL_checkoption(L, 2, NULL, ops), check_id(L, 3),
                                        check_id(L, 4), opt_name(L, 5), where_at(L, 6)));
}

static int graph_sum(lua_State *L) {
  return node_result(L, nn_graph_sum(check_graph(L, 1), check_id(L, 2), lua_toboolean(L, 3), opt_name(L, 4), where_at(L, 5)));
}

static int graph_softmax(lua_State *L) {
  return node_result(L, nn_graph_softmax(check_graph(L, 1), check_id(L, 2), lua_toboolean(L, 3), opt_name(L, 4),
                                         where_at(L, 5)));
}

static int graph_cross_entropy(lua_State *L) {
  return node_result(L, nn_graph_cross_entropy(check_graph(L, 1), check_id(L, 2), check_id(L, 3), opt_name(L, 4),
                                               where_at(L, 5)));
}

static int graph_accuracy(lua_State *L) {
  return node_result(L, nn_graph_accuracy(check_graph(L, 1), check_id(L, 2), check_id(L, 3), opt_name(L, 4), where_at(L, 5)));
}

static int graph_mse(lua_State *L) {
  return node_result(L, nn_graph_mse(check_graph(L, 1), check_id(L, 2), check_id(L, 3), opt_name(L, 4), where_at(L, 5)));
}

static int graph_dropout(lua_State *L) {
  return node_result(L, nn_graph_dropout(check_graph(L, 1), check_id(L, 2), check_id(L, 3), opt_name(L, 4), where_at(L, 5)));
}

static int graph_reshape(lua_State *L) {
  int64_t shape[NN_MAX_DIMS];
  int nd = read_shape(L, 3, shape, "reshape");
  return node_result(L, nn_graph_reshape(check_graph(L, 1), check_id(L, 2), nd, shape, opt_name(L, 4), where_at(L, 5)));
}

static void read_pad(lua_State *L, int i, int pad[4]) {
  if (!lua_istable(L, i)) nn_lua_error(L, "padding must be {top, left, bottom, right}, got %s", luaL_typename(L, i));
  for (int k = 0; k < 4; k++) {
    lua_geti(L, i, k + 1);
    pad[k] = check_int(L, -1, "a padding entry");
    lua_pop(L, 1);
  }
}

/* g:conv2d(x, w, b_or_-1, stride_h, stride_w, {top, left, bottom, right}, name, where) */
static int graph_conv2d(lua_State *L) {
  int pad[4];
  read_pad(L, 7, pad);
  return node_result(L, nn_graph_conv2d(check_graph(L, 1), check_id(L, 2), check_id(L, 3), check_id(L, 4),
                                        check_int(L, 5, "conv2d: stride"), check_int(L, 6, "conv2d: stride"), pad, opt_name(L, 8),
                                        where_at(L, 9)));
}

/* g:pool2d(x, max, kh, kw, stride_h, stride_w, pads, name, where) */
static int graph_pool2d(lua_State *L) {
  int pad[4];
  read_pad(L, 8, pad);
  return node_result(L, nn_graph_pool2d(check_graph(L, 1), check_id(L, 2), lua_toboolean(L, 3), check_int(L, 4, "pool: size"),
                                        check_int(L, 5, "pool: size"), check_int(L, 6, "pool: stride"),
                                        check_int(L, 7, "pool: stride"), pad, opt_name(L, 9), where_at(L, 10)));
}

/* g:batchnorm(x, gamma, beta, running_mean, running_var, eps, momentum, name, where) */
static int graph_batchnorm(lua_State *L) {
  return node_result(L, nn_graph_batchnorm(check_graph(L, 1), check_id(L, 2), check_id(L, 3), check_id(L, 4),
                                           check_id(L, 5), check_id(L, 6), (float)luaL_checknumber(L, 7),
                                           (float)luaL_checknumber(L, 8), opt_name(L, 9), where_at(L, 10)));
}

/* g:backward(loss, {wrt ids}) -> {grad ids}, false where a wrt node does not reach the loss */
static int graph_backward(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  int loss = check_id(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  int n = (int)luaL_len(L, 3);
  int *wrt = nn_alloc((size_t)(n + 1) * sizeof *wrt, "backward"), *grads = nn_alloc((size_t)(n + 1) * sizeof *grads, "backward");
  if (!wrt || !grads) {
    free(wrt), free(grads);
    return nn_lua_raise(L);
  }
  for (int i = 0; i < n; i++) {
    lua_geti(L, 3, i + 1);
    wrt[i] = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  int st = nn_graph_backward(g, loss, wrt, n, grads);
  if (st == 0) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
      if (grads[i] >= 0) lua_pushinteger(L, grads[i]);
      else lua_pushboolean(L, 0);
      lua_rawseti(L, -2, i + 1);
    }
  }
  free(wrt), free(grads);
  if (st != 0) return nn_lua_raise(L);
  return 1;
}

/* g:node(id) -> {op, name, where, shape, batched, dtype, inputs, numel, trainable (parameters only)}
 * (shape[1] is 0 when batched) */
static int graph_node(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  int id = check_id(L, 2);
  if (id < 0 || id >= g->count) return luaL_error(L, "node %d does not exist (the graph has %d)", id, g->count);
  const nn_node *n = &g->nodes[id];
  lua_createtable(L, 0, 8);
  lua_pushstring(L, nn_graph_op_name(n)), lua_setfield(L, -2, "op");
  lua_pushstring(L, n->name), lua_setfield(L, -2, "name");
  lua_pushstring(L, n->where), lua_setfield(L, -2, "where");
  lua_pushboolean(L, n->batched), lua_setfield(L, -2, "batched");
  lua_pushstring(L, nn_dtype_name(n->dtype)), lua_setfield(L, -2, "dtype");
  lua_createtable(L, n->ndim, 0);
  for (int i = 0; i < n->ndim; i++) lua_pushinteger(L, n->shape[i]), lua_rawseti(L, -2, i + 1);
  lua_setfield(L, -2, "shape");
  lua_createtable(L, n->ninputs, 0);
  for (int i = 0; i < n->ninputs; i++) lua_pushinteger(L, n->inputs[i]), lua_rawseti(L, -2, i + 1);
  lua_setfield(L, -2, "inputs");
  lua_pushinteger(L, (lua_Integer)nn_graph_numel(n, 1)), lua_setfield(L, -2, "numel");
  if (n->op == NN_PARAM) lua_pushboolean(L, n->trainable), lua_setfield(L, -2, "trainable");
  return 1;
}

/* g:truncate(count): drops the nodes from id count on (a layer that failed half-way). */
static int graph_truncate(lua_State *L) {
  nn_graph_truncate(check_graph(L, 1), (int)luaL_checkinteger(L, 2));
  return 0;
}

static int graph_count(lua_State *L) {
  lua_pushinteger(L, check_graph(L, 1)->count);
  return 1;
}

/* g:param_count([trainable = true]) */
static int graph_param_count(lua_State *L) {
  lua_pushinteger(L, nn_graph_param_count(check_graph(L, 1), lua_isnoneornil(L, 2) || lua_toboolean(L, 2)));
  return 1;
}

/* g:find(name) -> id or nil */
static int graph_find(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  const char *name = luaL_checkstring(L, 2);
  for (int i = 0; i < g->count; i++)
    if (strcmp(g->nodes[i].name, name) == 0) {
      lua_pushinteger(L, i);
      return 1;
    }
  lua_pushnil(L);
  return 1;
}

/* ---- model ---- */

/* model(graph) -> Model on the process's device; keeps the graph alive. */
static int model_new(lua_State *L) {
  nn_graph *g = check_graph(L, 1);
  nn_cl *cl = nn_lua_cl(L);
  model_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->m = NULL;
  luaL_setmetatable(L, MODEL_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  if (nn_model_new(&u->m, g, cl) != 0) return nn_lua_raise(L);
  return 1;
}

static int model_gc(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL_MT);
  nn_model_free(u->m);
  u->m = NULL;
  return 0;
}

static int model_init(lua_State *L) {
  if (nn_model_init(check_model(L, 1), (uint64_t)luaL_checkinteger(L, 2)) != 0) return nn_lua_raise(L);
  return 0;
}

static nn_tensor *param_tensor(lua_State *L, nn_model *m, int id) {
  nn_graph *g = nn_model_graph(m);
  if (id < 0 || id >= g->count || g->nodes[id].op != NN_PARAM) luaL_error(L, "node %d is not a parameter", id);
  return nn_lua_new_tensor(L, NN_F32, g->nodes[id].ndim, g->nodes[id].shape);
}

/* m:read_param(id) -> tensor of the parameter's shape */
static int model_read_param(lua_State *L) {
  nn_model *m = check_model(L, 1);
  int id = check_id(L, 2);
  nn_tensor *t = param_tensor(L, m, id);
  if (nn_model_read_param(m, id, t->data, t->count) != 0) return nn_lua_raise(L);
  return 1;
}

/* m:write_param(id, tensor) */
static int model_write_param(lua_State *L) {
  nn_model *m = check_model(L, 1);
  nn_tensor *t = nn_lua_check_tensor(L, 3);
  if (t->dtype != NN_F32) return luaL_error(L, "write_param: a float32 tensor is needed, got %s", nn_dtype_name(t->dtype));
  if (nn_model_write_param(m, check_id(L, 2), t->data, t->count) != 0) return nn_lua_raise(L);
  return 0;
}

static int model_save(lua_State *L) {
  size_t len;
  const char *meta = luaL_optlstring(L, 3, "", &len);
  if (nn_model_save(check_model(L, 1), luaL_checkstring(L, 2), meta, len) != 0) return nn_lua_raise(L);
  return 0;
}

static int model_load(lua_State *L) {
  char *meta;
  size_t len;
  if (nn_model_load(check_model(L, 1), luaL_checkstring(L, 2), &meta, &len) != 0) return nn_lua_raise(L);
  lua_pushlstring(L, meta, len);
  free(meta);
  return 1;
}

static int model_steps(lua_State *L) {
  lua_pushinteger(L, nn_model_steps(check_model(L, 1)));
  return 1;
}

/* A list of node ids as a C array held by a userdata left on the stack, so that the collector
 * frees it also when an error jumps out of the caller. */
static int read_ids(lua_State *L, int i, int **ids) {
  luaL_checktype(L, i, LUA_TTABLE);
  lua_Integer n = luaL_len(L, i);
  if (n < 0 || n > INT_MAX / (lua_Integer)sizeof **ids) return nn_lua_error(L, "a list of %I nodes", n);
  *ids = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof **ids, 0);
  for (int k = 0; k < n; k++) {
    lua_geti(L, i, k + 1);
    (*ids)[k] = (int)nn_lua_check_int(L, -1, INT_MIN, INT_MAX, "node id");
    lua_pop(L, 1);
  }
  return (int)n;
}

/* m:plan({targets}, batch, training) -> Plan */
static int model_plan(lua_State *L) {
  nn_model *m = check_model(L, 1);
  int *targets;
  int n = read_ids(L, 2, &targets);
  plan_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
  u->p = NULL;
  u->m = m;
  luaL_setmetatable(L, PLAN_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  int st = nn_plan_compile(m, targets, n, check_int(L, 3, "batch size"), lua_toboolean(L, 4), &u->p);
  if (st != 0) return nn_lua_raise(L);
  return 1;
}

/* m:optimize(plan, {params}, {grads}, {kind="adam"|"sgd", lr=, ...}) */
static int model_optimize(lua_State *L) {
  nn_model *m = check_model(L, 1);
  plan_ud *p = check_plan(L, 2);
  luaL_checktype(L, 5, LUA_TTABLE);
  nn_optim o = {0};
  lua_getfield(L, 5, "kind");
  o.kind = strcmp(luaL_optstring(L, -1, "sgd"), "adam") == 0 ? NN_OPTIM_ADAM : NN_OPTIM_SGD;
  lua_pop(L, 1);
  o.lr = (float)nn_lua_opt_number(L, 5, "lr", 0.01f);
  o.momentum = (float)nn_lua_opt_number(L, 5, "momentum", 0);
  o.weight_decay = (float)nn_lua_opt_number(L, 5, "weight_decay", 0);
  o.beta1 = (float)nn_lua_opt_number(L, 5, "beta1", 0.9f);
  o.beta2 = (float)nn_lua_opt_number(L, 5, "beta2", 0.999f);
  o.eps = (float)nn_lua_opt_number(L, 5, "eps", 1e-7f);
  o.nesterov = nn_lua_opt_bool(L, 5, "nesterov", 0);
  int *params, *grads;
  int n = read_ids(L, 3, &params), ng = read_ids(L, 4, &grads);
  if (ng != n) return luaL_error(L, "optimize: %d parameters and %d gradients", n, ng);
  int st = nn_model_optimize(m, p->p, params, grads, n, &o);
  if (st != 0) return nn_lua_raise(L);
  return 0;
}

/* ---- plans ---- */

static int plan_gc(lua_State *L) {
  plan_ud *u = luaL_checkudata(L, 1, PLAN_MT);
  nn_plan_free(u->p);
  u->p = NULL;
  return 0;
}

static int plan_run(lua_State *L) {
  if (nn_plan_run(check_plan(L, 1)->p, check_int(L, 2, "run: batch")) != 0) return nn_lua_raise(L);
  return 0;
}

/* p:read(id, n) -> tensor with the node's shape, the batch dimension set to n */
static int plan_read(lua_State *L) {
  plan_ud *u = check_plan(L, 1);
  nn_graph *g = nn_model_graph(u->m);
  int id = check_id(L, 2), n = lua_isnoneornil(L, 3) ? 1 : check_int(L, 3, "read: batch");
  if (id < 0 || id >= g->count) return luaL_error(L, "read: node %d does not exist", id);
  const nn_node *node = &g->nodes[id];
  int64_t shape[NN_MAX_DIMS];
  memcpy(shape, node->shape, sizeof shape);
  if (node->batched) shape[0] = n;
  nn_tensor *t = nn_lua_new_tensor(L, node->dtype, node->ndim, shape);
  if (nn_plan_read(u->p, id, n, t->data, t->count) != 0) return nn_lua_raise(L);
  return 1;
}

/* p:write(id, tensor): an input's value; the tensor's first dimension is the batch. */
static int plan_write(lua_State *L) {
  plan_ud *u = check_plan(L, 1);
  nn_graph *g = nn_model_graph(u->m);
  int id = check_id(L, 2);
  nn_tensor *t = nn_lua_check_tensor(L, 3);
  if (id < 0 || id >= g->count) return luaL_error(L, "write: node %d does not exist", id);
  const nn_node *node = &g->nodes[id];
  if (t->dtype != node->dtype)
    return luaL_error(L, "input '%s' holds %s, the tensor is %s", node->name, nn_dtype_name(node->dtype), nn_dtype_name(t->dtype));
  int n = t->ndim ? (int)t->shape[0] : 1;
  if (nn_plan_write(u->p, id, n, t->data, t->count) != 0) return nn_lua_raise(L);
  return 0;
}

/* p:feed(id, array, index_array, start, n, scale) */
static int plan_feed(lua_State *L) {
  plan_ud *u = check_plan(L, 1);
  array_ud *a = check_array(L, 3), *index = check_array(L, 4);
  int start = check_int(L, 5, "feed: start"), n = check_int(L, 6, "feed: count");
  if (index->type != NN_COLUMN_I32) return luaL_error(L, "feed: the index must be int32");
  if (start < 0 || n < 1 || start > index->count || n > index->count - start)
    return luaL_error(L, "feed: rows %d..%d of an index of %d", start, start + n, index->count);
  if (nn_plan_feed(u->p, check_id(L, 2), a->buf.mem, a->type, a->sample_size, index->buf.mem, start, n,
                   (float)luaL_optnumber(L, 7, 1)) != 0)
    return nn_lua_raise(L);
  return 0;
}

/* p:accumulate(id, array, slot, scale): array[slot] += scale * value(id)[0], on the device */
static int plan_accumulate(lua_State *L) {
  plan_ud *u = check_plan(L, 1);
  int id = check_id(L, 2);
  array_ud *acc = check_array(L, 3);
  int slot = check_int(L, 4, "accumulate: slot");
  cl_mem x = nn_plan_value(u->p, id);
  if (!x) return luaL_error(L, "accumulate: node %d is not computed by this plan", id);
  if (slot < 0 || slot >= acc->count * acc->sample_size) return luaL_error(L, "accumulate: slot %d out of range", slot);
  if (nn_op_accumulate(nn_model_cl(u->m), x, acc->buf.mem, slot, (float)luaL_optnumber(L, 5, 1), "metrics") != 0)
    return nn_lua_raise(L);
  return 0;
}

static int plan_info(lua_State *L) {
  nn_plan_info info = nn_plan_get_info(check_plan(L, 1)->p);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, info.batch), lua_setfield(L, -2, "batch");
  lua_pushinteger(L, info.nodes), lua_setfield(L, -2, "nodes");
  lua_pushinteger(L, info.launches), lua_setfield(L, -2, "launches");
  lua_pushinteger(L, (lua_Integer)info.arena_bytes), lua_setfield(L, -2, "arena_bytes");
  lua_pushinteger(L, (lua_Integer)info.param_bytes), lua_setfield(L, -2, "param_bytes");
  return 1;
}

/* ---- device arrays ---- */

/* upload(tensor [, what]) -> DeviceArray holding the tensor (bytes stay bytes). */
static int array_upload(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  const char *what = luaL_optstring(L, 2, "data set");
  nn_cl *cl = nn_lua_cl(L);
  array_ud *a = lua_newuserdatauv(L, sizeof *a, 0);
  memset(a, 0, sizeof *a);
  luaL_setmetatable(L, ARRAY_MT);
  a->type = t->dtype == NN_U8 ? NN_COLUMN_U8 : t->dtype == NN_I32 ? NN_COLUMN_I32 : NN_COLUMN_F32;
  a->count = t->ndim ? (int)t->shape[0] : 1;
  a->sample_size = a->count ? (int)(t->count / (size_t)a->count) : 0;
  a->ndim = t->ndim;
  memcpy(a->shape, t->shape, sizeof a->shape);
  size_t bytes = t->count * nn_dtype_size(t->dtype);
  if (nn_cl_alloc(cl, bytes, what, &a->buf) != 0 || nn_cl_write(cl, &a->buf, 0, t->data, bytes) != 0) return nn_lua_raise(L);
  return 1;
}

/* zeros(n) -> float32 DeviceArray of n elements (metric accumulators) */
static int array_zeros(lua_State *L) {
  int n = check_int(L, 1, "zeros: size");
  luaL_argcheck(L, n >= 1, 1, "size must be positive");
  nn_cl *cl = nn_lua_cl(L);
  array_ud *a = lua_newuserdatauv(L, sizeof *a, 0);
  memset(a, 0, sizeof *a);
  luaL_setmetatable(L, ARRAY_MT);
  a->type = NN_COLUMN_F32;
  a->count = n, a->sample_size = 1, a->ndim = 1, a->shape[0] = n;
  if (nn_cl_alloc(cl, (size_t)n * 4, "metrics", &a->buf) != 0 || nn_cl_fill(cl, &a->buf, 0, (size_t)n * 4, 0) != 0)
    return nn_lua_raise(L);
  return 1;
}

/* a:read() -> tensor (waits for the queue) */
static int array_read(lua_State *L) {
  array_ud *a = check_array(L, 1);
  nn_dtype dt = a->type == NN_COLUMN_U8 ? NN_U8 : a->type == NN_COLUMN_I32 ? NN_I32 : NN_F32;
  nn_tensor *t = nn_lua_new_tensor(L, dt, a->ndim, a->shape);
  if (nn_cl_read(nn_lua_cl(L), &a->buf, 0, t->data, a->buf.bytes) != 0) return nn_lua_raise(L);
  return 1;
}

/* a:write(tensor): same element count and type */
static int array_write(lua_State *L) {
  array_ud *a = check_array(L, 1);
  nn_tensor *t = nn_lua_check_tensor(L, 2);
  size_t bytes = t->count * nn_dtype_size(t->dtype);
  if (bytes != a->buf.bytes) return luaL_error(L, "device array write: %d bytes into %d", (int)bytes, (int)a->buf.bytes);
  if (nn_cl_write(nn_lua_cl(L), &a->buf, 0, t->data, bytes) != 0) return nn_lua_raise(L);
  return 0;
}

static int array_zero(lua_State *L) {
  array_ud *a = check_array(L, 1);
  if (nn_cl_fill(nn_lua_cl(L), &a->buf, 0, a->buf.bytes, 0) != 0) return nn_lua_raise(L);
  return 0;
}

static int array_count(lua_State *L) {
  lua_pushinteger(L, check_array(L, 1)->count);
  return 1;
}

static int array_gc(lua_State *L) {
  array_ud *a = luaL_checkudata(L, 1, ARRAY_MT);
  if (a->buf.mem) nn_cl_free(nn_lua_cl(L), &a->buf);
  return 0;
}

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

int nn_lua_open_graph(lua_State *L) {
  static const luaL_Reg graph_methods[] = {
      {"input", graph_input},       {"param", graph_param},       {"scalar", graph_scalar},
      {"set_scalar", graph_set_scalar}, {"get_scalar", graph_get_scalar}, {"matmul", graph_matmul},
      {"unary", graph_unary},       {"affine", graph_affine},     {"binary", graph_binary},
      {"sum", graph_sum},           {"softmax", graph_softmax},   {"cross_entropy", graph_cross_entropy},
      {"accuracy", graph_accuracy}, {"mse", graph_mse},           {"dropout", graph_dropout},
      {"reshape", graph_reshape},   {"conv2d", graph_conv2d},     {"pool2d", graph_pool2d},
      {"batchnorm", graph_batchnorm},
      {"backward", graph_backward}, {"node", graph_node},         {"count", graph_count},
      {"truncate", graph_truncate},
      {"param_count", graph_param_count}, {"find", graph_find},   {NULL, NULL}};
  static const luaL_Reg model_methods[] = {
      {"init", model_init}, {"read_param", model_read_param}, {"write_param", model_write_param},
      {"save", model_save}, {"load", model_load},             {"steps", model_steps},
      {"plan", model_plan}, {"optimize", model_optimize},     {NULL, NULL}};
  static const luaL_Reg plan_methods[] = {{"run", plan_run},   {"read", plan_read}, {"write", plan_write},
                                          {"feed", plan_feed}, {"accumulate", plan_accumulate},
                                          {"info", plan_info}, {NULL, NULL}};
  static const luaL_Reg array_methods[] = {{"read", array_read}, {"write", array_write}, {"zero", array_zero},
                                           {"count", array_count}, {NULL, NULL}};
  new_class(L, GRAPH_MT, graph_methods, graph_gc);
  new_class(L, MODEL_MT, model_methods, model_gc);
  new_class(L, PLAN_MT, plan_methods, plan_gc);
  new_class(L, ARRAY_MT, array_methods, array_gc);
  static const luaL_Reg fns[] = {
      {"graph", graph_new}, {"model", model_new}, {"upload", array_upload}, {"zeros", array_zeros}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
