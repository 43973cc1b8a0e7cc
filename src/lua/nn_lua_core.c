/* nn._core: what the Lua library needs from the runtime itself: version, device, environment,
 * clocks and atomic files. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm.h"
#include "nn_lua.h"
#include "nn_version.h"

static int core_version(lua_State *L) {
  lua_pushstring(L, NN_VERSION);
  return 1;
}

static int core_git_commit(lua_State *L) {
  lua_pushstring(L, NN_GIT_COMMIT);
  return 1;
}

static void push_device(lua_State *L, const nn_device_info *d) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, d->name), lua_setfield(L, -2, "name");
  lua_pushstring(L, d->platform_name), lua_setfield(L, -2, "platform");
  lua_pushstring(L, nn_cl_type_name(d->type)), lua_setfield(L, -2, "type");
  lua_pushstring(L, d->driver), lua_setfield(L, -2, "driver");
  lua_pushstring(L, d->version), lua_setfield(L, -2, "version");
  lua_pushinteger(L, (lua_Integer)d->global_mem), lua_setfield(L, -2, "global_mem");
  lua_pushinteger(L, (lua_Integer)d->max_alloc), lua_setfield(L, -2, "max_alloc");
  lua_pushinteger(L, d->compute_units), lua_setfield(L, -2, "compute_units");
  lua_pushfstring(L, "%d:%d", d->platform, d->index), lua_setfield(L, -2, "id");
}

/* device() -> table describing the device NN_DEVICE selects (opening it). */
static int core_device(lua_State *L) {
  nn_cl *cl = nn_lua_cl(L);
  push_device(L, nn_cl_device(cl));
  lua_pushstring(L, nn_gemm_engine(cl)), lua_setfield(L, -2, "gemm");
  return 1;
}

/* devices() -> list of every OpenCL device, without opening any. */
static int core_devices(lua_State *L) {
  nn_device_info *list;
  int n;
  if (nn_cl_list_devices(&list, &n) != 0) return nn_lua_raise_setup(L);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    push_device(L, &list[i]);
    lua_rawseti(L, -2, i + 1);
  }
  free(list);
  return 1;
}

/* stats() -> live/peak device bytes and kernel builds of the process's device. */
static int core_stats(lua_State *L) {
  nn_cl_stats s = nn_cl_get_stats(nn_lua_cl(L));
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)s.live_bytes), lua_setfield(L, -2, "live_bytes");
  lua_pushinteger(L, (lua_Integer)s.peak_bytes), lua_setfield(L, -2, "peak_bytes");
  lua_pushinteger(L, (lua_Integer)s.live_buffers), lua_setfield(L, -2, "live_buffers");
  lua_pushinteger(L, s.programs_built), lua_setfield(L, -2, "programs_built");
  lua_pushinteger(L, s.programs_cached), lua_setfield(L, -2, "programs_cached");
  lua_pushinteger(L, (lua_Integer)s.launches), lua_setfield(L, -2, "launches");
  return 1;
}

/* profile([reset]) -> {{name =, count =, seconds =}, ...}: the per-kernel times NN_PROFILE
 * records (empty without it); with reset true the table starts again afterwards. */
static int core_profile(lua_State *L) {
  nn_cl *cl = nn_lua_cl(L);
  const nn_cl_profile_entry *e;
  int n = nn_cl_profile(cl, &e);
  if (n < 0) return nn_lua_raise(L);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, e[i].name), lua_setfield(L, -2, "name");
    lua_pushinteger(L, (lua_Integer)e[i].count), lua_setfield(L, -2, "count");
    lua_pushnumber(L, e[i].seconds), lua_setfield(L, -2, "seconds");
    lua_rawseti(L, -2, i + 1);
  }
  if (lua_toboolean(L, 1)) nn_cl_profile_reset(cl);
  return 1;
}

/* env(name) -> value of a declared NN_ variable, or nil. */
static int core_env(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  for (const nn_env_var *v = nn_env_vars; v->name; v++)
    if (strcmp(v->name, name) == 0) {
      const char *value = nn_env(name);
      value ? lua_pushstring(L, value) : lua_pushnil(L);
      return 1;
    }
  return luaL_error(L, "env: '%s' is not an nnrun variable (see nnrun --help)", name);
}

static int core_seconds(lua_State *L) {
  lua_pushnumber(L, nn_seconds());
  return 1;
}

/* write_file(path, string): atomic (temp file, fsync, rename). */
static int core_write_file(lua_State *L) {
  size_t len;
  const char *path = luaL_checkstring(L, 1);
  const char *data = luaL_checklstring(L, 2, &len);
  if (nn_file_write_atomic(path, data, len) != 0) return nn_lua_raise(L);
  return 0;
}

/* mkdirs(path): mkdir -p. */
static int core_mkdirs(lua_State *L) {
  if (nn_mkdirs(luaL_checkstring(L, 1)) != 0) return nn_lua_raise(L);
  return 0;
}

/* setup_error(message): raise an error that makes nnrun exit with status 2. */
static int core_setup_error(lua_State *L) {
  nn_fail("%s", luaL_checkstring(L, 1));
  return nn_lua_raise_setup(L);
}

/* shard() -> k, N: this process's share of sweep members. NN_SHARD ("k/N", set by nnrun for
 * each device) or the MPI launcher's rank and size (Open MPI, or PMI for MPICH and Slurm). */
static int core_shard(lua_State *L) {
  const char *shard = nn_env("NN_SHARD");
  int k = 0, n = 1;
  if (shard) {
    if (sscanf(shard, "%d/%d", &k, &n) != 2 || n < 1 || k < 0 || k >= n) {
      nn_fail("NN_SHARD='%s' is not k/N with 0 <= k < N", shard);
      return nn_lua_raise_setup(L);
    }
  } else if (getenv("OMPI_COMM_WORLD_SIZE")) {
    k = atoi(getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : "0");
    n = atoi(getenv("OMPI_COMM_WORLD_SIZE"));
  } else if (getenv("PMI_SIZE")) {
    k = atoi(getenv("PMI_RANK") ? getenv("PMI_RANK") : "0");
    n = atoi(getenv("PMI_SIZE"));
  }
  lua_pushinteger(L, k);
  lua_pushinteger(L, n < 1 ? 1 : n);
  return 2;
}

/* alive(pid) -> whether a process with this id runs on this machine (sweeps waiting on a member). */
static int core_alive(lua_State *L) {
  lua_pushboolean(L, kill((pid_t)luaL_checkinteger(L, 1), 0) == 0);
  return 1;
}

/* pid() -> this process's id */
static int core_pid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

/* sleep(seconds) */
static int core_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
  return 0;
}

/* is_tty(fd) -> whether stdout (1) or stderr (2) is a terminal, for progress bars. */
static int core_is_tty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 1)));
  return 1;
}

/* Ctrl-C during training. catch_interrupt() arms a SIGINT handler that only sets a flag, which
 * interrupted() reads, so model:fit can finish its step, save a checkpoint and stop cleanly; the
 * handler is reset by the first signal (SA_RESETHAND), so a second Ctrl-C ends the process at once.
 * catch_interrupt(false) puts back what was there before (fit calls it when it returns). */
static volatile sig_atomic_t interrupt_seen;
static struct sigaction interrupt_before;
static int interrupt_armed;

static void on_interrupt(int sig) {
  (void)sig;
  interrupt_seen = 1;
}

static int core_catch_interrupt(lua_State *L) {
  if (lua_isnoneornil(L, 1) || lua_toboolean(L, 1)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    interrupt_seen = 0;
    if (sigaction(SIGINT, &sa, interrupt_armed ? NULL : &interrupt_before) != 0)
      return luaL_error(L, "catch_interrupt: %s", strerror(errno));
    interrupt_armed = 1;
  } else if (interrupt_armed) {
    sigaction(SIGINT, &interrupt_before, NULL);
    interrupt_armed = 0;
  }
  return 0;
}

static int core_interrupted(lua_State *L) {
  lua_pushboolean(L, interrupt_seen);
  return 1;
}

int nn_lua_open_core(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"version", core_version},     {"git_commit", core_git_commit}, {"device", core_device},
      {"devices", core_devices},     {"stats", core_stats},           {"env", core_env},
      {"profile", core_profile},
      {"seconds", core_seconds},     {"write_file", core_write_file}, {"mkdirs", core_mkdirs},
      {"setup_error", core_setup_error}, {"is_tty", core_is_tty},     {"shard", core_shard},
      {"alive", core_alive},         {"pid", core_pid},               {"sleep", core_sleep},     {"deserialize", nn_lua_deserialize},
      {"catch_interrupt", core_catch_interrupt}, {"interrupted", core_interrupted},
      {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_pushstring(L, NN_SOURCE_ROOT);
  lua_setfield(L, -2, "source_root");
  return 1;
}
