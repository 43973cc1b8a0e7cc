/* nn_lua: module registry, error raising and the process's device for the bindings. */
#include "nn_lua.h"

#include <stdarg.h>
#include <string.h>

#include "nn_base.h"
#include "nn_cl.h"

static const luaL_Reg modules[] = {
    {"nn._core", nn_lua_open_core},
    {"nn._tensor", nn_lua_open_tensor},
    {"nn._data", nn_lua_open_data},
    {"nn._plot", nn_lua_open_plot},
    {"nn._graph", nn_lua_open_graph},
    {"nn._ml", nn_lua_open_ml},
    {NULL, NULL},
};

void nn_lua_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *m = modules; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

/* The first stack level running a script outside the nn library (lua/nn/): errors name the
 * user's line even when the library made the call (lua/nn/util.lua's where() does the same). */
static int user_level(lua_State *L) {
  static const char library[] = NN_SOURCE_ROOT "/lua/nn/";
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 || ar.source[0] != '@') continue;
    if (strncmp(ar.source + 1, library, sizeof library - 1) != 0) return level;
  }
  return 1;
}

int nn_lua_raise(lua_State *L) {
  luaL_where(L, user_level(L));
  lua_pushstring(L, nn_error());
  lua_concat(L, 2);
  return lua_error(L);
}

int nn_lua_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *message = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  nn_fail("%s", message);
  return nn_lua_raise(L);
}

lua_Integer nn_lua_check_int(lua_State *L, int index, lua_Integer lo, lua_Integer hi, const char *what) {
  int ok;
  lua_Integer v = lua_tointegerx(L, index, &ok);
  if (!ok) {
    if (lua_type(L, index) == LUA_TNUMBER)
      nn_lua_error(L, "%s must be a whole number, got %s", what, luaL_tolstring(L, index, NULL));
    nn_lua_error(L, "%s must be a whole number, got %s", what, luaL_typename(L, index));
  }
  if (v < lo || v > hi) nn_lua_error(L, "%s is %I, outside %I..%I", what, v, lo, hi);
  return v;
}

static const char setup_error_key[] = "nn.setup_error";

int nn_lua_raise_setup(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, setup_error_key);
  return nn_lua_raise(L);
}

int nn_lua_had_setup_error(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, setup_error_key);
  int had = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return had;
}

double nn_lua_opt_number(lua_State *L, int opt, const char *key, double fallback) {
  if (lua_isnoneornil(L, opt)) return fallback;
  luaL_checktype(L, opt, LUA_TTABLE);
  lua_getfield(L, opt, key);
  int ok;
  double v = lua_tonumberx(L, -1, &ok);
  if (!ok && !lua_isnil(L, -1)) luaL_error(L, "option '%s': number expected, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return ok ? v : fallback;
}

int nn_lua_opt_bool(lua_State *L, int opt, const char *key, int fallback) {
  if (lua_isnoneornil(L, opt)) return fallback;
  luaL_checktype(L, opt, LUA_TTABLE);
  lua_getfield(L, opt, key);
  int v = lua_isnil(L, -1) ? fallback : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* One device per process: scripts do not choose devices, NN_DEVICE does. */
static nn_cl *process_cl;

nn_cl *nn_lua_cl(lua_State *L) {
  if (!process_cl && nn_cl_open(&process_cl, nn_env("NN_DEVICE"), false) != 0) nn_lua_raise_setup(L);
  return process_cl;
}

void nn_lua_close_cl(void) {
  nn_cl_close(process_cl);
  process_cl = NULL;
}
