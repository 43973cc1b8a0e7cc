/* nnrun: runs a Lua experiment script with the nn library, or answers --devices, --version, --help.
 * Exit status: 0 ok, 1 the script failed, 2 usage or set-up error (no device, missing data). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lualib.h>

#include "nn_base.h"
#include "nn_cl.h"
#include "nn_lua.h"
#include "nn_version.h"

enum { EXIT_OK = 0, EXIT_SCRIPT = 1, EXIT_SETUP = 2 };

static void usage(FILE *out) {
  fprintf(out,
          "usage: nnrun SCRIPT.lua [ARGS...]   run an experiment script (ARGS are in `arg`)\n"
          "       nnrun --devices              list OpenCL platforms and devices\n"
          "       nnrun --version              print the version\n"
          "       nnrun --help                 this text\n\n"
          "environment:\n");
  for (const nn_env_var *v = nn_env_vars; v->name; v++) fprintf(out, "  %-11s %s\n", v->name, v->help);
}

static int list_devices(void) {
  nn_device_info *devices;
  int count, chosen = -1;
  if (nn_cl_list_devices(&devices, &count) != 0) {
    fprintf(stderr, "nnrun: %s\n", nn_error());
    return EXIT_SETUP;
  }
  /* Several devices (comma-separated, or all): each part must match one. */
  const char *spec = nn_env("NN_DEVICE");
  bool marked[64] = {false};
  int selected = 0;
  char list[1024];
  snprintf(list, sizeof list, "%s", spec ? spec : "");
  if (spec && strcmp(spec, "all") == 0) {
    for (int i = 0; i < count && i < 64; i++) marked[i] = true;
  } else {
    char *save, *tok = strtok_r(list, ",", &save);
    do {
      selected = nn_cl_select(tok, devices, count, &chosen);
      if (selected == 0 && chosen < 64) marked[chosen] = true;
    } while (selected == 0 && tok && (tok = strtok_r(NULL, ",", &save)));
  }
  for (int i = 0; i < count; i++) {
    const nn_device_info *d = &devices[i];
    printf("%c %d:%d  %-40s %-4s %7.2f GiB  %3u CU  %s, driver %s\n", i < 64 && marked[i] ? '*' : ' ', d->platform,
           d->index, d->name, nn_cl_type_name(d->type), (double)d->global_mem / (1 << 30), d->compute_units,
           d->platform_name, d->driver);
  }
  free(devices);
  if (selected != 0) {
    fprintf(stderr, "nnrun: %s\n", nn_error());
    return EXIT_SETUP;
  }
  printf("(* marks what NN_DEVICE selects)\n");
  return EXIT_OK;
}

/* Error handler: keeps the one-line message; adds the Lua traceback when NN_VERBOSE is set. */
static int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_tolstring(L, 1, NULL);
  if (nn_env("NN_VERBOSE")) luaL_traceback(L, L, msg, 1);
  else lua_pushstring(L, msg);
  return 1;
}

/* package.path gains the nn library (lua/) and the source root, so scripts can
 * `require "nn"` and `require "models.mlp"` from anywhere. */
static void set_paths(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s", NN_SOURCE_ROOT, NN_SOURCE_ROOT, NN_SOURCE_ROOT,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}

static int run_script(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "nnrun: cannot create a Lua state (out of memory)\n");
    return EXIT_SETUP;
  }
  luaL_openlibs(L);
  set_paths(L);
  nn_lua_preload(L);
  /* arg as lua.c sets it: arg[0] the script, arg[1..] its arguments, arg[-1] nnrun. */
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");

  int status = EXIT_OK;
  lua_pushcfunction(L, message_handler);
  int st = luaL_loadfile(L, argv[1]);
  if (st != LUA_OK) {
    fprintf(stderr, "nnrun: %s\n", lua_tostring(L, -1));
    status = st == LUA_ERRFILE ? EXIT_SETUP : EXIT_SCRIPT;
  } else {
    for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    if (lua_pcall(L, argc - 2, 0, 1) != LUA_OK) {
      fprintf(stderr, "nnrun: %s\n", lua_tostring(L, -1));
      status = nn_lua_had_setup_error(L) ? EXIT_SETUP : EXIT_SCRIPT;
    }
  }
  lua_close(L);
  nn_lua_close_cl();
  return status;
}

/* NN_DEVICE naming several devices ("0:0,1:0", "gpu,cpu" or "all"): one child nnrun per device,
 * each with NN_DEVICE set to its device and NN_SHARD to k/N, so nn.sweep spreads the members over
 * them. Returns the worst child status. */
static int run_on_devices(char **argv, const char *spec) {
  nn_device_info *devices;
  int count;
  if (nn_cl_list_devices(&devices, &count) != 0) {
    fprintf(stderr, "nnrun: %s\n", nn_error());
    return EXIT_SETUP;
  }
  char specs[16][64];
  int n = 0;
  if (strcmp(spec, "all") == 0) {
    for (int i = 0; i < count && n < 16; i++, n++) snprintf(specs[n], sizeof specs[n], "%d:%d", devices[i].platform, devices[i].index);
  } else {
    char list[1024];
    snprintf(list, sizeof list, "%s", spec);
    for (char *save, *tok = strtok_r(list, ",", &save); tok && n < 16; tok = strtok_r(NULL, ",", &save)) {
      int chosen;
      if (nn_cl_select(tok, devices, count, &chosen) != 0) {
        fprintf(stderr, "nnrun: %s\n", nn_error());
        free(devices);
        return EXIT_SETUP;
      }
      snprintf(specs[n++], sizeof specs[n], "%d:%d", devices[chosen].platform, devices[chosen].index);
    }
  }
  free(devices);
  if (n == 0) {
    fprintf(stderr, "nnrun: NN_DEVICE='%s' names no device\n", spec);
    return EXIT_SETUP;
  }
  fprintf(stderr, "nnrun: %d processes, one per device\n", n);
  pid_t pids[16];
  for (int k = 0; k < n; k++) {
    char shard[32];
    snprintf(shard, sizeof shard, "%d/%d", k, n);
    pids[k] = fork();
    if (pids[k] == 0) {
      setenv("NN_DEVICE", specs[k], 1);
      setenv("NN_SHARD", shard, 1);
      execv("/proc/self/exe", argv);
      perror("nnrun: exec");
      _exit(EXIT_SETUP);
    }
    if (pids[k] < 0) {
      perror("nnrun: fork");
      return EXIT_SETUP;
    }
  }
  int worst = EXIT_OK;
  for (int k = 0; k < n; k++) {
    int status;
    if (waitpid(pids[k], &status, 0) < 0) continue;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SCRIPT;
    if (code > worst) worst = code;
  }
  return worst;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_SETUP;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("nnrun %s (%s), %s\n", NN_VERSION, NN_GIT_COMMIT, LUA_RELEASE);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--devices") == 0) return list_devices();
  if (argv[1][0] == '-') {
    fprintf(stderr, "nnrun: unknown option '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_SETUP;
  }
  const char *spec = nn_env("NN_DEVICE");
  if (spec && (strchr(spec, ',') || strcmp(spec, "all") == 0)) return run_on_devices(argv, spec);
  return run_script(argc, argv);
}
