/* Fuzz target: the training-state reader (nn_lua_deserialize, behind util.deserialize) in a bare
 * Lua state. It must return one value or raise a "damaged training state" error; it has no way
 * to run code, so an input cannot hang it or reach the standard library. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "fuzz.h"
#include "nn_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A state per input: everything it allocated is freed by lua_close, as libFuzzer's leak check
   * wants (a long-lived state's garbage looks like a leak to it, and checking costs 30 ms). */
  lua_State *L = luaL_newstate();
  FUZZ_CHECK(L != NULL);
  lua_pushcfunction(L, nn_lua_deserialize);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *e = lua_tostring(L, -1);
    FUZZ_CHECK(e != NULL && (strstr(e, "damaged training state: byte ") == e || strstr(e, "stack overflow") ||
                             strstr(e, "not enough memory")));
  }
  lua_close(L);
  return 0;
}
