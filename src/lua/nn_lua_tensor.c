/* nn._tensor: host tensors as Lua userdata ("nn.Tensor"). Indices are 1-based, as in Lua and
 * Torch7. These are for data, results and pictures; computation happens in the graph engine. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_lua.h"

#define TENSOR_MT "nn.Tensor"

static void push_metatable(lua_State *L);

nn_tensor *nn_lua_new_tensor(lua_State *L, nn_dtype dtype, int ndim, const int64_t *shape) {
  nn_tensor *t = lua_newuserdatauv(L, sizeof *t, 0);
  memset(t, 0, sizeof *t);
  /* Other modules make tensors before nn._tensor may have been required. */
  push_metatable(L);
  lua_setmetatable(L, -2);
  if (nn_tensor_init(t, dtype, ndim, shape) != 0) nn_lua_raise(L);
  return t;
}

nn_tensor *nn_lua_to_tensor(lua_State *L, int index) { return luaL_testudata(L, index, TENSOR_MT); }

nn_tensor *nn_lua_check_tensor(lua_State *L, int index) { return luaL_checkudata(L, index, TENSOR_MT); }

static nn_dtype check_dtype(lua_State *L, int index) {
  static const char *const names[] = {"float32", "uint8", "int32", NULL};
  static const nn_dtype types[] = {NN_F32, NN_U8, NN_I32};
  return types[luaL_checkoption(L, index, "float32", names)];
}

/* Reads a shape given as a table {d1, d2, ...}. */
static int check_shape(lua_State *L, int index, int64_t *shape) {
  luaL_checktype(L, index, LUA_TTABLE);
  int ndim = (int)luaL_len(L, index);
  luaL_argcheck(L, ndim <= NN_MAX_DIMS, index, "at most 4 dimensions");
  for (int i = 0; i < ndim; i++) {
    lua_geti(L, index, i + 1);
    int ok;
    lua_Integer d = lua_tointegerx(L, -1, &ok);
    if (!ok || d < 0) luaL_argerror(L, index, "shape entries must be integers >= 0");
    shape[i] = d;
    lua_pop(L, 1);
  }
  return ndim;
}

/* The flat offset of 1-based indices at stack positions first.. (one per dimension). */
static size_t check_index(lua_State *L, const nn_tensor *t, int first) {
  int given = lua_gettop(L) - first + 1;
  if (given != t->ndim) luaL_error(L, "tensor index: %d indices given for a %d-d tensor", given, t->ndim);
  size_t flat = 0;
  for (int i = 0; i < t->ndim; i++) {
    lua_Integer k = luaL_checkinteger(L, first + i);
    if (k < 1 || k > t->shape[i])
      luaL_error(L, "tensor index %d: %d is outside 1..%d", i + 1, (int)k, (int)t->shape[i]);
    flat = flat * (size_t)t->shape[i] + (size_t)(k - 1);
  }
  return flat;
}

/* new(shape [, dtype]) -> zeroed tensor */
static int tensor_new(lua_State *L) {
  int64_t shape[NN_MAX_DIMS];
  int ndim = check_shape(L, 1, shape);
  nn_lua_new_tensor(L, check_dtype(L, 2), ndim, shape);
  return 1;
}

/* Depth-first walk of a nested table, filling shape from the first element at each level. */
static int table_shape(lua_State *L, int index, int64_t *shape, int depth) {
  if (depth >= NN_MAX_DIMS) return luaL_error(L, "tensor from table: more than 4 levels of nesting");
  shape[depth] = (int64_t)luaL_len(L, index);
  if (shape[depth] == 0) return depth + 1;
  lua_geti(L, index, 1);
  int ndim = lua_istable(L, -1) ? table_shape(L, lua_gettop(L), shape, depth + 1) : depth + 1;
  lua_pop(L, 1);
  return ndim;
}

static void table_fill(lua_State *L, int index, nn_tensor *t, int depth, size_t *at) {
  if (depth >= NN_MAX_DIMS) return; /* table_shape stopped deeper nesting; this tells the compiler */
  if ((int64_t)luaL_len(L, index) != t->shape[depth])
    luaL_error(L, "tensor from table: rows of different lengths at level %d", depth + 1);
  for (int64_t i = 1; i <= t->shape[depth]; i++) {
    lua_geti(L, index, i);
    if (depth + 1 < t->ndim) {
      if (!lua_istable(L, -1)) luaL_error(L, "tensor from table: ragged nesting at level %d", depth + 2);
      table_fill(L, lua_gettop(L), t, depth + 1, at);
    } else {
      int ok;
      lua_Number v = lua_tonumberx(L, -1, &ok);
      if (!ok) luaL_error(L, "tensor from table: element %d is a %s, not a number", (int)(*at + 1), luaL_typename(L, -1));
      nn_tensor_set(t, (*at)++, v);
    }
    lua_pop(L, 1);
  }
}

/* from_table(nested table [, dtype]) -> tensor */
static int tensor_from_table(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t shape[NN_MAX_DIMS];
  int ndim = table_shape(L, 1, shape, 0);
  nn_tensor *t = nn_lua_new_tensor(L, check_dtype(L, 2), ndim, shape);
  size_t at = 0;
  table_fill(L, 1, t, 0, &at);
  return 1;
}

static int tensor_shape(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_createtable(L, t->ndim, 0);
  for (int i = 0; i < t->ndim; i++) {
    lua_pushinteger(L, t->shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int tensor_size(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_Integer d = luaL_checkinteger(L, 2);
  luaL_argcheck(L, d >= 1 && d <= t->ndim, 2, "dimension out of range");
  lua_pushinteger(L, t->shape[d - 1]);
  return 1;
}

static int tensor_numel(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)nn_lua_check_tensor(L, 1)->count);
  return 1;
}

static int tensor_dim(lua_State *L) {
  lua_pushinteger(L, nn_lua_check_tensor(L, 1)->ndim);
  return 1;
}

static int tensor_dtype(lua_State *L) {
  lua_pushstring(L, nn_dtype_name(nn_lua_check_tensor(L, 1)->dtype));
  return 1;
}

/* t:get(i, j, ...) */
static int tensor_get(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  double v = nn_tensor_get(t, check_index(L, t, 2));
  if (t->dtype == NN_F32) lua_pushnumber(L, v);
  else lua_pushinteger(L, (lua_Integer)v);
  return 1;
}

/* t:set(value, i, j, ...) */
static int tensor_set(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_Number v = luaL_checknumber(L, 2);
  nn_tensor_set(t, check_index(L, t, 3), v);
  return 0;
}

static void push_element(lua_State *L, const nn_tensor *t, size_t i) {
  double v = nn_tensor_get(t, i);
  if (t->dtype == NN_F32) lua_pushnumber(L, v);
  else lua_pushinteger(L, (lua_Integer)v);
}

static void push_nested(lua_State *L, const nn_tensor *t, int depth, size_t *at) {
  if (depth >= NN_MAX_DIMS) return; /* ndim <= NN_MAX_DIMS; this tells the compiler */
  lua_createtable(L, (int)t->shape[depth], 0);
  for (int64_t i = 1; i <= t->shape[depth]; i++) {
    if (depth + 1 < t->ndim) push_nested(L, t, depth + 1, at);
    else push_element(L, t, (*at)++);
    lua_rawseti(L, -2, i);
  }
}

/* t:totable() -> nested tables; a 0-d tensor gives its number. */
static int tensor_totable(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  size_t at = 0;
  if (t->ndim == 0) push_element(L, t, 0);
  else push_nested(L, t, 0, &at);
  return 1;
}

/* t:flat() -> one flat table of every element. */
static int tensor_flat(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_createtable(L, (int)t->count, 0);
  for (size_t i = 0; i < t->count; i++) {
    push_element(L, t, i);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static nn_tensor *copy_as(lua_State *L, const nn_tensor *t, nn_dtype dtype, int ndim, const int64_t *shape) {
  nn_tensor *c = nn_lua_new_tensor(L, dtype, ndim, shape);
  if (dtype == t->dtype) memcpy(c->data, t->data, t->count * nn_dtype_size(dtype));
  else
    for (size_t i = 0; i < t->count; i++) nn_tensor_set(c, i, nn_tensor_get(t, i));
  return c;
}

/* t:reshape{...} -> copy with a new shape of the same element count; one entry may be -1. */
static int tensor_reshape(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  int64_t shape[NN_MAX_DIMS];
  luaL_checktype(L, 2, LUA_TTABLE);
  int ndim = (int)luaL_len(L, 2), infer = -1;
  luaL_argcheck(L, ndim <= NN_MAX_DIMS, 2, "at most 4 dimensions");
  size_t known = 1;
  for (int i = 0; i < ndim; i++) {
    lua_geti(L, 2, i + 1);
    shape[i] = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (shape[i] == -1 && infer < 0) infer = i;
    else if (shape[i] <= 0) return luaL_argerror(L, 2, "sizes must be positive (one may be -1)");
    else known *= (size_t)shape[i];
  }
  if (infer >= 0) shape[infer] = known ? (int64_t)(t->count / known) : 0;
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
  char a[64], b[64];
  if (count != t->count)
    return luaL_error(L, "reshape: %s has %d elements, %s has %d", nn_shape_str(t->ndim, t->shape, a, sizeof a),
                      (int)t->count, nn_shape_str(ndim, shape, b, sizeof b), (int)count);
  copy_as(L, t, t->dtype, ndim, shape);
  return 1;
}

/* t:astype(dtype) -> converted copy; t:clone() -> copy. */
static int tensor_astype(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  copy_as(L, t, check_dtype(L, 2), t->ndim, t->shape);
  return 1;
}

static int tensor_clone(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  copy_as(L, t, t->dtype, t->ndim, t->shape);
  return 1;
}

/* t:select(i) -> copy of the i-th slice along the first dimension (one dimension fewer). */
static int tensor_select(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (t->ndim == 0) return luaL_error(L, "select: a 0-d tensor has no slices");
  if (i < 1 || i > t->shape[0]) return luaL_error(L, "select: %d is outside 1..%d", (int)i, (int)t->shape[0]);
  nn_tensor *s = nn_lua_new_tensor(L, t->dtype, t->ndim - 1, t->shape + 1);
  size_t esz = nn_dtype_size(t->dtype);
  memcpy(s->data, (char *)t->data + (size_t)(i - 1) * s->count * esz, s->count * esz);
  return 1;
}

/* t:fill(v) -> t */
static int tensor_fill(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_Number v = luaL_checknumber(L, 2);
  for (size_t i = 0; i < t->count; i++) nn_tensor_set(t, i, v);
  lua_settop(L, 1);
  return 1;
}

/* Reductions over all elements: sum, mean, min, max, and argmax (1-based flat index). */
static int tensor_stats(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  if (t->count == 0) return luaL_error(L, "statistics of an empty tensor");
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  size_t arg = 0;
  for (size_t i = 0; i < t->count; i++) {
    double v = nn_tensor_get(t, i);
    sum += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v, arg = i;
  }
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, sum), lua_setfield(L, -2, "sum");
  lua_pushnumber(L, sum / (double)t->count), lua_setfield(L, -2, "mean");
  lua_pushnumber(L, lo), lua_setfield(L, -2, "min");
  lua_pushnumber(L, hi), lua_setfield(L, -2, "max");
  lua_pushinteger(L, (lua_Integer)arg + 1), lua_setfield(L, -2, "argmax");
  return 1;
}

static int tensor_tostring(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  char buf[96];
  lua_pushfstring(L, "nn.Tensor %s %s", nn_dtype_name(t->dtype), nn_shape_str(t->ndim, t->shape, buf, sizeof buf));
  return 1;
}

static int tensor_len(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
  return 1;
}

static int tensor_gc(lua_State *L) {
  nn_tensor_free(nn_lua_check_tensor(L, 1));
  return 0;
}

/* concat({t1, t2, ...}) -> the tensors stacked along the first dimension (same dtype and
 * trailing shape), e.g. the batches of a prediction. */
static int tensor_concat(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int k = (int)luaL_len(L, 1);
  if (k < 1) return luaL_error(L, "concat: no tensors");
  lua_geti(L, 1, 1);
  nn_tensor *first = nn_lua_check_tensor(L, -1);
  lua_pop(L, 1);
  if (first->ndim < 1) return luaL_error(L, "concat: tensors need at least one dimension");
  int64_t shape[NN_MAX_DIMS];
  memcpy(shape, first->shape, sizeof shape);
  shape[0] = 0;
  for (int i = 1; i <= k; i++) {
    lua_geti(L, 1, i);
    nn_tensor *t = nn_lua_check_tensor(L, -1);
    lua_pop(L, 1);
    bool same = t->dtype == first->dtype && t->ndim == first->ndim;
    for (int d = 1; same && d < t->ndim; d++) same = t->shape[d] == first->shape[d];
    if (!same) return luaL_error(L, "concat: tensor %d differs in dtype or trailing shape from the first", i);
    shape[0] += t->shape[0];
  }
  nn_tensor *out = nn_lua_new_tensor(L, first->dtype, first->ndim, shape);
  size_t at = 0, esz = nn_dtype_size(first->dtype);
  for (int i = 1; i <= k; i++) {
    lua_geti(L, 1, i);
    nn_tensor *t = nn_lua_to_tensor(L, -1);
    memcpy((char *)out->data + at, t->data, t->count * esz);
    at += t->count * esz;
    lua_pop(L, 1);
  }
  return 1;
}

/* is(x) -> whether x is a tensor */
static int tensor_is(lua_State *L) {
  lua_pushboolean(L, nn_lua_to_tensor(L, 1) != NULL);
  return 1;
}

static void push_metatable(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"shape", tensor_shape},   {"size", tensor_size},       {"numel", tensor_numel},   {"dim", tensor_dim},
      {"dtype", tensor_dtype},   {"get", tensor_get},         {"set", tensor_set},       {"totable", tensor_totable},
      {"flat", tensor_flat},     {"reshape", tensor_reshape}, {"astype", tensor_astype}, {"clone", tensor_clone},
      {"select", tensor_select}, {"fill", tensor_fill},       {"stats", tensor_stats},   {NULL, NULL},
  };
  static const luaL_Reg meta[] = {
      {"__tostring", tensor_tostring}, {"__len", tensor_len}, {"__gc", tensor_gc}, {NULL, NULL}};
  if (luaL_newmetatable(L, TENSOR_MT)) {
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
  }
}

int nn_lua_open_tensor(lua_State *L) {
  push_metatable(L);
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"new", tensor_new}, {"from_table", tensor_from_table}, {"is", tensor_is}, {"concat", tensor_concat}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}
