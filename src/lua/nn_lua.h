/* nn_lua: the Lua bindings. The only files that include lauxlib.h; the core modules return
 * nn_fail() messages and the bindings raise them as Lua errors, prefixed by the script position.
 *
 * Each C module is a Lua module named "nn._<module>" (nn._core, nn._data, nn._plot, ...), opened by
 * a function nn_lua_open_<module> that pushes its table; nn_lua_modules lists them and nnrun puts
 * them in package.preload. The Lua library in lua/nn/ wraps them for users.
 */
#ifndef NN_LUA_H
#define NN_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "nn_tensor.h"

/* Registers every nn._* module in package.preload. */
void nn_lua_preload(lua_State *L);

/* Raises nn_error() as a Lua error at the calling script line ("mlp.lua:7: <message>"). */
int nn_lua_raise(lua_State *L);
/* The same for set-up problems (no device, missing data): nnrun then exits with status 2. */
int nn_lua_raise_setup(lua_State *L);
/* True once nn_lua_raise_setup has been called in this state. */
int nn_lua_had_setup_error(lua_State *L);

/* Argument errors raised at the user's script line, like nn_lua_raise, for bindings the nn library
 * calls (luaL_argerror would name the library's line, not the script's). nn_lua_error formats as
 * lua_pushfstring does (%s %d %I %f %c %%); nn_lua_check_int is luaL_checkinteger limited to
 * lo..hi, so an int-sized count or a node id is never truncated, with `what` naming it. */
int nn_lua_error(lua_State *L, const char *fmt, ...);
lua_Integer nn_lua_check_int(lua_State *L, int index, lua_Integer lo, lua_Integer hi, const char *what);

/* Options tables: the field `key` of the table at stack index `opt` (which may be absent),
 * or `fallback`; a field of the wrong type raises "option 'key': number expected, got string". */
double nn_lua_opt_number(lua_State *L, int opt, const char *key, double fallback);
int nn_lua_opt_bool(lua_State *L, int opt, const char *key, int fallback);

/* The process's OpenCL device, opened on first use from NN_DEVICE (raises a set-up error if
 * that fails). */
struct nn_cl;
struct nn_cl *nn_lua_cl(lua_State *L);
/* Closes the device, if it was opened; nnrun calls it at exit. */
void nn_lua_close_cl(void);

/* Host tensors as Lua userdata of metatable "nn.Tensor" (methods in nn_lua_tensor.c).
 * nn_lua_new_tensor pushes a zeroed tensor (raising on bad sizes); nn_lua_check_tensor raises
 * "bad argument #i ... (tensor expected, got X)". */
nn_tensor *nn_lua_new_tensor(lua_State *L, nn_dtype dtype, int ndim, const int64_t *shape);
nn_tensor *nn_lua_check_tensor(lua_State *L, int index);
nn_tensor *nn_lua_to_tensor(lua_State *L, int index); /* NULL if not a tensor */

/* deserialize(string) -> the value lua/nn/util.lua's serialize wrote: a strict reader that runs
 * nothing (nn_lua_state.c); damaged input raises "damaged training state: byte N: ...". */
int nn_lua_deserialize(lua_State *L);

/* The module openers, one per binding file. */
int nn_lua_open_core(lua_State *L);    /* nn_lua_core.c: devices, version, env, timing */
int nn_lua_open_tensor(lua_State *L);  /* nn_lua_tensor.c: host tensors */
int nn_lua_open_data(lua_State *L);    /* nn_lua_data.c: IDX files */
int nn_lua_open_plot(lua_State *L);    /* nn_lua_plot.c: charts and PNG */
int nn_lua_open_graph(lua_State *L);   /* nn_lua_graph.c: graphs, models, plans, device arrays */
int nn_lua_open_ml(lua_State *L);      /* nn_lua_ml.c: PCA, linear SVM, perceptron */

#endif
