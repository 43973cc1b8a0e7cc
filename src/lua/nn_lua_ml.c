/* nn._ml: PCA, the linear SVM and the perceptron (src/ml/) for lua/nn/ml.lua.
 *
 * Data come in as host tensors: samples (n, d) float32, labels (n) int32. A fitted PCA is a
 * userdata ("nn.ml.PCA") holding its double-precision eigendecomposition; the SVM and the
 * perceptron return plain tables. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_base.h"
#include "nn_lua.h"
#include "nn_pca.h"
#include "nn_perceptron.h"
#include "nn_svm.h"

#define PCA_MT "nn.ml.PCA"

/* Argument arg must be a float32 tensor of two dimensions (samples, features). */
static nn_tensor *check_samples(lua_State *L, int arg) {
  nn_tensor *t = nn_lua_check_tensor(L, arg);
  if (t->dtype != NN_F32 || t->ndim != 2) {
    char shape[96];
    luaL_argerror(L, arg, lua_pushfstring(L, "float32 (samples, features) tensor expected, got %s %s",
                                          nn_dtype_name(t->dtype), nn_shape_str(t->ndim, t->shape, shape, sizeof shape)));
  }
  if (t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX) luaL_argerror(L, arg, "too many samples or features");
  return t;
}

/* Argument arg must be an int32 vector of n labels. */
static nn_tensor *check_labels(lua_State *L, int arg, int64_t n) {
  nn_tensor *t = nn_lua_check_tensor(L, arg);
  if (t->dtype != NN_I32 || t->ndim != 1 || t->shape[0] != n) {
    char shape[96];
    luaL_argerror(L, arg, lua_pushfstring(L, "int32 vector of %d labels expected, got %s %s", (int)n,
                                          nn_dtype_name(t->dtype), nn_shape_str(t->ndim, t->shape, shape, sizeof shape)));
  }
  return t;
}

static void push_doubles(lua_State *L, const double *v, int n) {
  int64_t shape[1] = {n};
  nn_tensor *t = nn_lua_new_tensor(L, NN_F32, 1, shape);
  for (int i = 0; i < n; i++) ((float *)t->data)[i] = (float)v[i];
}

/* features(images (N, ...) any dtype [, scale [, shift]]) -> float32 (N, D) = images * scale + shift,
 * D the product of the other dimensions: images as flat feature vectors. */
static int ml_features(lua_State *L) {
  nn_tensor *t = nn_lua_check_tensor(L, 1);
  double scale = luaL_optnumber(L, 2, 1), shift = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, t->ndim >= 1, 1, "tensor with at least one dimension expected");
  int64_t shape[2] = {t->shape[0], t->shape[0] ? (int64_t)(t->count / (size_t)t->shape[0]) : 0};
  if (t->ndim == 1) shape[1] = 1;
  nn_tensor *out = nn_lua_new_tensor(L, NN_F32, 2, shape);
  float *dst = out->data;
  for (size_t i = 0; i < t->count; i++) dst[i] = (float)(nn_tensor_get(t, i) * scale + shift);
  return 1;
}

/* standardise(x (n, d) float32) -> float32 (n, d): each feature shifted to mean 0 and scaled to
 * variance 1 (population variance, as scikit-learn's StandardScaler); a constant feature becomes
 * 0. Statistics in double. */
static int ml_standardise(lua_State *L) {
  nn_tensor *x = check_samples(L, 1);
  int64_t n = x->shape[0], d = x->shape[1];
  luaL_argcheck(L, n >= 1, 1, "no samples to standardise");
  double *mean = lua_newuserdatauv(L, 2 * (size_t)d * sizeof(double), 0), *var = mean + d;
  memset(mean, 0, 2 * (size_t)d * sizeof(double));
  const float *src = x->data;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) mean[j] += src[i * d + j];
  for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) var[j] += (src[i * d + j] - mean[j]) * (src[i * d + j] - mean[j]);
  nn_tensor *out = nn_lua_new_tensor(L, NN_F32, 2, x->shape);
  float *dst = out->data;
  for (int64_t j = 0; j < d; j++) {
    double sd = sqrt(var[j] / (double)n);
    for (int64_t i = 0; i < n; i++) dst[i * d + j] = sd > 0 ? (float)((src[i * d + j] - mean[j]) / sd) : 0.0f;
  }
  return 1;
}

/* signs(labels (N) int32, positive) -> int32 (N): +1 where the label is `positive`, else -1. */
static int ml_signs(lua_State *L) {
  nn_tensor *labels = nn_lua_check_tensor(L, 1);
  luaL_argcheck(L, labels->dtype == NN_I32 && labels->ndim == 1, 1, "int32 label vector expected");
  lua_Integer positive = luaL_checkinteger(L, 2);
  nn_tensor *out = nn_lua_new_tensor(L, NN_I32, 1, labels->shape);
  const int32_t *src = labels->data;
  int32_t *dst = out->data;
  for (int64_t i = 0; i < labels->shape[0]; i++) dst[i] = src[i] == positive ? 1 : -1;
  return 1;
}

/* ---- PCA ---- */

static nn_pca *check_pca(lua_State *L) {
  nn_pca *p = luaL_checkudata(L, 1, PCA_MT);
  if (!p->components) luaL_error(L, "PCA is already freed");
  return p;
}

/* pca_fit(x (n, d) float32) -> PCA */
static int ml_pca_fit(lua_State *L) {
  nn_tensor *x = check_samples(L, 1);
  nn_cl *cl = nn_lua_cl(L);
  nn_pca *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, PCA_MT);
  if (nn_pca_fit(cl, x->data, (int)x->shape[0], (int)x->shape[1], p) != 0) return nn_lua_raise(L);
  return 1;
}

/* p:transform(x (n, d) float32, k) -> float32 (n, k): the first k coordinates of each sample. */
static int pca_transform(lua_State *L) {
  nn_pca *p = check_pca(L);
  nn_tensor *x = check_samples(L, 2);
  lua_Integer k = luaL_checkinteger(L, 3);
  if (x->shape[1] != p->d)
    return luaL_error(L, "PCA transform: samples of %d features given to a PCA of %d", (int)x->shape[1], p->d);
  if (k < 1 || k > p->d) return luaL_error(L, "PCA transform: %d components asked of %d", (int)k, p->d);
  int n = (int)x->shape[0];
  double *y = nn_alloc((size_t)n * (size_t)k * sizeof(double), "PCA projections");
  if (!y) return nn_lua_raise(L);
  nn_pca_transform(p, x->data, n, (int)k, y);
  int64_t shape[2] = {n, k};
  nn_tensor *out = nn_lua_new_tensor(L, NN_F32, 2, shape);
  for (size_t i = 0; i < (size_t)n * (size_t)k; i++) ((float *)out->data)[i] = (float)y[i];
  free(y);
  return 1;
}

/* p:variances() -> float32 (d), largest first; p:mean() -> float32 (d) */
static int pca_variances(lua_State *L) {
  nn_pca *p = check_pca(L);
  push_doubles(L, p->variances, p->d);
  return 1;
}

static int pca_mean(lua_State *L) {
  nn_pca *p = check_pca(L);
  push_doubles(L, p->mean, p->d);
  return 1;
}

/* p:variance(i) -> the i-th eigenvalue (1-based), in double. p:total() -> their sum. */
static int pca_variance(lua_State *L) {
  nn_pca *p = check_pca(L);
  lua_Integer i = luaL_checkinteger(L, 2);
  luaL_argcheck(L, i >= 1 && i <= p->d, 2, "component index out of range");
  lua_pushnumber(L, p->variances[i - 1]);
  return 1;
}

static int pca_total(lua_State *L) {
  lua_pushnumber(L, check_pca(L)->total);
  return 1;
}

/* p:components(k) -> float32 (k, d), one unit axis per row. */
static int pca_components(lua_State *L) {
  nn_pca *p = check_pca(L);
  lua_Integer k = luaL_optinteger(L, 2, p->d);
  luaL_argcheck(L, k >= 1 && k <= p->d, 2, "component count out of range");
  int64_t shape[2] = {k, p->d};
  nn_tensor *out = nn_lua_new_tensor(L, NN_F32, 2, shape);
  for (size_t i = 0; i < (size_t)k * (size_t)p->d; i++) ((float *)out->data)[i] = (float)p->components[i];
  return 1;
}

static int pca_index(lua_State *L) {
  nn_pca *p = check_pca(L);
  const char *key = luaL_checkstring(L, 2);
  if (strcmp(key, "n") == 0) lua_pushinteger(L, p->n);
  else if (strcmp(key, "d") == 0) lua_pushinteger(L, p->d);
  else {
    luaL_getmetatable(L, PCA_MT);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, key);
  }
  return 1;
}

static int pca_tostring(lua_State *L) {
  nn_pca *p = check_pca(L);
  lua_pushfstring(L, "nn.ml.PCA(%d samples, %d features)", p->n, p->d);
  return 1;
}

static int pca_gc(lua_State *L) {
  nn_pca_free(luaL_checkudata(L, 1, PCA_MT));
  return 0;
}

/* ---- linear SVM ---- */

/* svm_fit(x (n, d) float32, y (n) int32 of ±1 [, {C, tol, max_iter, bias, seed}])
 *   -> {w = {d numbers}, b = intercept, iterations = passes, converged = bool} */
static int ml_svm_fit(lua_State *L) {
  nn_tensor *xt = check_samples(L, 1);
  int n = (int)xt->shape[0], d = (int)xt->shape[1];
  nn_tensor *yt = check_labels(L, 2, n);
  nn_svm_options o = {.c = nn_lua_opt_number(L, 3, "C", 1),
                      .tol = nn_lua_opt_number(L, 3, "tol", 1e-4),
                      .max_iter = (int)nn_lua_opt_number(L, 3, "max_iter", 1000),
                      .bias = nn_lua_opt_number(L, 3, "bias", 1),
                      .seed = (uint64_t)nn_lua_opt_number(L, 3, "seed", 0)};
  double *x = nn_alloc((size_t)n * (size_t)d * sizeof(double), "SVM samples");
  double *w = nn_alloc(((size_t)d + 1) * sizeof(double), "SVM weights");
  if (!x || !w) {
    free(x), free(w);
    return nn_lua_raise(L);
  }
  for (size_t i = 0; i < (size_t)n * (size_t)d; i++) x[i] = ((const float *)xt->data)[i];
  nn_svm_info info;
  int rc = nn_svm_fit(x, yt->data, n, d, &o, w, &info);
  free(x);
  if (rc != 0) {
    free(w);
    return nn_lua_raise(L);
  }
  lua_createtable(L, 0, 4);
  lua_createtable(L, d, 0);
  for (int j = 0; j < d; j++) {
    lua_pushnumber(L, w[j]);
    lua_rawseti(L, -2, j + 1);
  }
  lua_setfield(L, -2, "w");
  lua_pushnumber(L, w[d]), lua_setfield(L, -2, "b");
  lua_pushinteger(L, info.iterations), lua_setfield(L, -2, "iterations");
  lua_pushboolean(L, info.converged), lua_setfield(L, -2, "converged");
  free(w);
  return 1;
}

/* ---- perceptron ---- */

/* A zeroed block of `bytes` owned by the Lua table at `keep` (freed with it). */
static void *scratch(lua_State *L, int keep, size_t bytes) {
  void *p = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
  memset(p, 0, bytes ? bytes : 1);
  lua_rawseti(L, keep, (lua_Integer)luaL_len(L, keep) + 1);
  return p;
}

/* perceptron_train({{x = (n, d) float32, y = (n) int32 of ±1, seed = s}, ...}, opts)
 *   -> {{w = float32 (d), b, best_w, best_b, best_epoch, errors = {per epoch}, epochs, converged},
 *       ...}, seconds: the final weights and the pocket's (nn_perceptron.h)
 * opts: eta, max_epochs, tol, n_iter_no_change, init_scale, local_size, host (true: the C
 * reference instead of the device). */
static int ml_perceptron_train(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int count = (int)luaL_len(L, 1);
  luaL_argcheck(L, count >= 1, 1, "at least one problem expected");
  nn_perceptron_options o = {.eta = (float)nn_lua_opt_number(L, 2, "eta", 0.01),
                             .max_epochs = (int)nn_lua_opt_number(L, 2, "max_epochs", 1000),
                             .tol = nn_lua_opt_number(L, 2, "tol", 1e-3),
                             .n_iter_no_change = (int)nn_lua_opt_number(L, 2, "n_iter_no_change", 5),
                             .init_scale = (float)nn_lua_opt_number(L, 2, "init_scale", 0.01),
                             .local_size = (int)nn_lua_opt_number(L, 2, "local_size", 0)};
  bool host = false;
  if (!lua_isnoneornil(L, 2)) {
    lua_getfield(L, 2, "host");
    host = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (o.max_epochs < 1 || o.max_epochs > 1000000) return luaL_error(L, "perceptron: max_epochs %d", o.max_epochs);
  nn_cl *cl = host ? NULL : nn_lua_cl(L);

  /* Every buffer is a userdata kept in a table at stack slot `keep`, so raising an error
   * anywhere below frees them; the problems' tensors stay referenced by argument 1. */
  lua_createtable(L, 3 * count + 1, 0);
  int keep = lua_gettop(L);
  nn_perceptron_problem *pr = scratch(L, keep, (size_t)count * sizeof *pr);
  int d = -1;
  for (int p = 0; p < count; p++) {
    lua_geti(L, 1, p + 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "perceptron: problem %d is a %s, not a table", p + 1, luaL_typename(L, -1));
    lua_getfield(L, -1, "x");
    nn_tensor *x = check_samples(L, lua_gettop(L));
    lua_getfield(L, -2, "y");
    nn_tensor *y = check_labels(L, lua_gettop(L), x->shape[0]);
    lua_getfield(L, -3, "seed");
    pr[p].seed = (uint64_t)luaL_optinteger(L, -1, p + 1);
    lua_pop(L, 4);
    if (d >= 0 && x->shape[1] != d)
      return luaL_error(L, "perceptron: problem %d has %d features, problem 1 has %d", p + 1, (int)x->shape[1], d);
    d = (int)x->shape[1];
    pr[p].x = x->data;
    pr[p].n = (int)x->shape[0];
    int8_t *signs = scratch(L, keep, (size_t)pr[p].n + 1);
    for (int i = 0; i < pr[p].n; i++) {
      int32_t v = ((const int32_t *)y->data)[i];
      if (v != 1 && v != -1)
        return luaL_error(L, "perceptron: problem %d: label %d of sample %d is not +1 or -1", p + 1, (int)v, i + 1);
      signs[i] = (int8_t)v;
    }
    pr[p].y = signs;
    pr[p].w = scratch(L, keep, ((size_t)d + 1) * sizeof(float));
    pr[p].best_w = scratch(L, keep, ((size_t)d + 1) * sizeof(float));
    pr[p].errors = scratch(L, keep, (size_t)o.max_epochs * sizeof(float));
  }
  double t0 = nn_seconds();
  int rc = host ? nn_perceptron_train_host(pr, count, d, &o) : nn_perceptron_train(cl, pr, count, d, &o);
  double seconds = nn_seconds() - t0;
  if (rc != 0) return nn_lua_raise(L);
  lua_createtable(L, count, 0);
  for (int p = 0; p < count; p++) {
    lua_createtable(L, 0, 8);
    int64_t shape[1] = {d};
    nn_tensor *w = nn_lua_new_tensor(L, NN_F32, 1, shape);
    memcpy(w->data, pr[p].w, (size_t)d * sizeof(float));
    lua_setfield(L, -2, "w");
    lua_pushnumber(L, pr[p].w[d]), lua_setfield(L, -2, "b");
    w = nn_lua_new_tensor(L, NN_F32, 1, shape);
    memcpy(w->data, pr[p].best_w, (size_t)d * sizeof(float));
    lua_setfield(L, -2, "best_w");
    lua_pushnumber(L, pr[p].best_w[d]), lua_setfield(L, -2, "best_b");
    lua_pushinteger(L, pr[p].best_epoch), lua_setfield(L, -2, "best_epoch");
    lua_createtable(L, pr[p].epochs, 0);
    for (int e = 0; e < pr[p].epochs; e++) {
      lua_pushnumber(L, pr[p].errors[e]);
      lua_rawseti(L, -2, e + 1);
    }
    lua_setfield(L, -2, "errors");
    lua_pushinteger(L, pr[p].epochs), lua_setfield(L, -2, "epochs");
    lua_pushboolean(L, pr[p].converged), lua_setfield(L, -2, "converged");
    lua_rawseti(L, -2, p + 1);
  }
  lua_pushnumber(L, seconds);
  return 2;
}

/* linear_error(x (n, d) float32, y (n) int32 of ±1, w float32 (d), b) -> the fraction of samples
 * with y (w·x + b) <= 0, summed as the perceptron sums. */
static int ml_linear_error(lua_State *L) {
  nn_tensor *x = check_samples(L, 1);
  int n = (int)x->shape[0], d = (int)x->shape[1];
  nn_tensor *y = check_labels(L, 2, n);
  nn_tensor *w = nn_lua_check_tensor(L, 3);
  luaL_argcheck(L, w->dtype == NN_F32 && (int64_t)w->count == d, 3, "float32 weights, one per feature, expected");
  float b = (float)luaL_checknumber(L, 4);
  float *wb = nn_alloc(((size_t)d + 1) * sizeof(float), "weights");
  int8_t *s = nn_alloc((size_t)n + 1, "labels");
  if (!wb || !s) {
    free(wb), free(s);
    return nn_lua_raise(L);
  }
  memcpy(wb, w->data, (size_t)d * sizeof(float));
  wb[d] = b;
  for (int i = 0; i < n; i++) s[i] = ((const int32_t *)y->data)[i] == 1 ? 1 : -1;
  lua_pushnumber(L, nn_perceptron_error(x->data, s, n, d, wb));
  free(wb), free(s);
  return 1;
}

int nn_lua_open_ml(lua_State *L) {
  static const luaL_Reg pca_methods[] = {
      {"transform", pca_transform}, {"variances", pca_variances},   {"variance", pca_variance},
      {"total", pca_total},         {"components", pca_components}, {"mean", pca_mean},
      {NULL, NULL},
  };
  if (luaL_newmetatable(L, PCA_MT)) {
    luaL_newlib(L, pca_methods);
    lua_setfield(L, -2, "methods");
    static const luaL_Reg meta[] = {{"__index", pca_index}, {"__tostring", pca_tostring}, {"__gc", pca_gc}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
      {"features", ml_features},
      {"signs", ml_signs},
      {"standardise", ml_standardise},
      {"pca_fit", ml_pca_fit},
      {"svm_fit", ml_svm_fit},
      {"perceptron_train", ml_perceptron_train},
      {"linear_error", ml_linear_error},
      {NULL, NULL},
  };
  luaL_newlib(L, fns);
  return 1;
}
