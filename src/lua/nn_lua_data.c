/* nn_lua_data: the nn._data module. IDX files, where the data sets live, and the per-row work the
 * dataset code in lua/nn/data.lua does over tens of thousands of images, done here in C.
 *
 * Row indices are 0-based, like the rows of the tensors they index; label values are whatever the
 * files hold (0..9 for MNIST and Fashion-MNIST). */
#include <stdint.h>
#include <string.h>

#include "nn_base.h"
#include "nn_idx.h"
#include "nn_lua.h"
#include "nn_rng.h"

/* Argument `arg` must be an int32 tensor of one dimension (indices or labels). */
static nn_tensor *check_i32_vector(lua_State *L, int arg) {
  nn_tensor *t = nn_lua_check_tensor(L, arg);
  if (t->dtype != NN_I32 || t->ndim != 1) {
    char shape[96];
    luaL_argerror(L, arg, lua_pushfstring(L, "int32 vector expected, got %s %s",
                                          nn_dtype_name(t->dtype),
                                          nn_shape_str(t->ndim, t->shape, shape, sizeof shape)));
  }
  return t;
}

/* read_idx(path) -> tensor, uint8, int32 or float32 as the file says. A missing or damaged data
 * file is a set-up error (nnrun exits with status 2; the message names the fix). */
static int data_read_idx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  /* The result exists before the file is read, so it takes the data without a copy, and no
   * error can leave the data unowned. */
  int64_t empty[1] = {0};
  nn_tensor *out = nn_lua_new_tensor(L, NN_U8, 1, empty), t;
  if (nn_idx_read(path, &t) != 0) return nn_lua_raise_setup(L);
  nn_tensor_free(out);
  *out = t;
  return 1;
}

/* write_idx(path, tensor) */
static int data_write_idx(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (nn_idx_write(path, nn_lua_check_tensor(L, 2)) != 0) return nn_lua_raise(L);
  return 0;
}

/* data_dir() -> the folder holding mnist/ and fashion-mnist/: $NN_DATA, else data/ in the source
 * tree, where setup.sh puts them. */
static int data_data_dir(lua_State *L) {
  const char *dir = nn_env("NN_DATA");
  lua_pushstring(L, dir ? dir : NN_SOURCE_ROOT "/data");
  return 1;
}

/* gather_rows(t (N, ...), index (K,) int32 [, first [, count]]) -> (count, ...): row index[first+i]
 * of t for i = 0..count-1. first defaults to 0 and count to the rest of index, so a training loop
 * takes batch b of a shuffled order as gather_rows(images, order, b * size, size). */
static int data_gather_rows(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  nn_tensor *index = check_i32_vector(L, 2);
  luaL_argcheck(L, t->ndim >= 1, 1, "tensor with at least one dimension expected");
  int64_t k = index->shape[0];
  lua_Integer first = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, first >= 0 && first <= k, 3, "first is outside the index");
  lua_Integer count = luaL_optinteger(L, 4, k - first);
  luaL_argcheck(L, count >= 0 && count <= k - first, 4, "count runs past the end of the index");

  int64_t rows = t->shape[0];
  size_t row_bytes = nn_dtype_size(t->dtype);
  for (int d = 1; d < t->ndim; d++) row_bytes *= (size_t)t->shape[d];  /* t's data exists: fits */
  int64_t shape[NN_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[0] = count;
  nn_tensor *out = nn_lua_new_tensor(L, t->dtype, t->ndim, shape);
  const int32_t *rows_wanted = (const int32_t *)index->data + first;
  for (lua_Integer i = 0; i < count; i++) {
    int32_t r = rows_wanted[i];
    if (r < 0 || r >= rows) {
      nn_fail("gather_rows: index[%lld] is %d, outside the tensor's rows 0..%lld",
              (long long)(first + i), r, (long long)rows - 1);
      return nn_lua_raise(L);
    }
    memcpy((char *)out->data + (size_t)i * row_bytes, (const char *)t->data + (size_t)r * row_bytes,
           row_bytes);
  }
  return 1;
}

/* permutation(n, seed) -> (n,) int32: 0..n-1 shuffled by an nn_rng seeded with seed. */
static int data_permutation(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_Integer seed = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= INT32_MAX, 1, "size must be 0..2^31-1");
  int64_t shape[1] = {n};
  nn_tensor *out = nn_lua_new_tensor(L, NN_I32, 1, shape);
  int32_t *values = out->data;
  for (lua_Integer i = 0; i < n; i++) values[i] = (int32_t)i;
  nn_rng rng;
  nn_rng_seed(&rng, (uint64_t)seed);
  nn_rng_shuffle(&rng, values, (size_t)n);
  return 1;
}

/* label_counts(labels (N,) int32) -> {[label] = how many rows have it} */
static int data_label_counts(lua_State *L) {
  nn_tensor *labels = check_i32_vector(L, 1);
  const int32_t *y = labels->data;
  lua_newtable(L);
  for (size_t i = 0; i < labels->count; i++) {
    lua_rawgeti(L, -1, y[i]);
    lua_Integer seen = lua_tointeger(L, -1);  /* 0 for nil */
    lua_pop(L, 1);
    lua_pushinteger(L, seen + 1);
    lua_rawseti(L, -2, y[i]);
  }
  return 1;
}

/* rows_with_labels(labels (N,) int32, {label, ...}) -> (K,) int32: the rows, in order, whose label
 * is one of those listed. */
static int data_rows_with_labels(lua_State *L) {
  nn_tensor *labels = check_i32_vector(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_newtable(L);  /* wanted: {[label] = true} */
  int wanted = lua_gettop(L);
  lua_Integer listed = (lua_Integer)lua_rawlen(L, 2);
  for (lua_Integer i = 1; i <= listed; i++) {
    if (lua_rawgeti(L, 2, i) != LUA_TNUMBER || !lua_isinteger(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "entry %I is %s, want an integer label", i,
                                          luaL_typename(L, -1)));
    lua_pushboolean(L, 1);
    lua_rawset(L, wanted);
  }

  const int32_t *y = labels->data;
  int64_t kept = 0;
  for (int pass = 0; pass < 2; pass++) {  /* count, then fill */
    int32_t *out = NULL;
    if (pass == 1) {
      int64_t shape[1] = {kept};
      out = nn_lua_new_tensor(L, NN_I32, 1, shape)->data;
      kept = 0;
    }
    for (size_t i = 0; i < labels->count; i++) {
      int keep = lua_rawgeti(L, wanted, y[i]) != LUA_TNIL;
      lua_pop(L, 1);
      if (keep && out) out[kept] = (int32_t)i;
      kept += keep;
    }
  }
  return 1;
}

/* map_labels(labels (N,) int32, {[old] = new, ...}) -> (N,) int32 with each label replaced. */
static int data_map_labels(lua_State *L) {
  nn_tensor *labels = check_i32_vector(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  nn_tensor *out = nn_lua_new_tensor(L, NN_I32, 1, labels->shape);
  const int32_t *y = labels->data;
  int32_t *mapped = out->data;
  for (size_t i = 0; i < labels->count; i++) {
    int type = lua_rawgeti(L, 2, y[i]);
    int is_int;
    lua_Integer value = lua_tointegerx(L, -1, &is_int);
    if (type == LUA_TNIL) {
      nn_fail("map_labels: label %d (row %zu) is not in the table", y[i], i);
      return nn_lua_raise(L);
    }
    if (!is_int || value < INT32_MIN || value > INT32_MAX) {
      nn_fail("map_labels: label %d maps to %s, want an int32", y[i], luaL_tolstring(L, -1, NULL));
      return nn_lua_raise(L);
    }
    lua_pop(L, 1);
    mapped[i] = (int32_t)value;
  }
  return 1;
}

int nn_lua_open_data(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"read_idx", data_read_idx},
      {"write_idx", data_write_idx},
      {"data_dir", data_data_dir},
      {"gather_rows", data_gather_rows},
      {"permutation", data_permutation},
      {"label_counts", data_label_counts},
      {"rows_with_labels", data_rows_with_labels},
      {"map_labels", data_map_labels},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  return 1;
}
