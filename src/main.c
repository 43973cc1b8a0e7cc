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
#include "nn_gemm.h"
#include "nn_gemm_tune.h"
#include "nn_lua.h"
#include "nn_version.h"

enum { EXIT_OK = 0, EXIT_SCRIPT = 1, EXIT_SETUP = 2 };

static void usage(FILE *out) {
  fprintf(out,
          "usage: nnrun SCRIPT.lua [ARGS...]   run an experiment script (ARGS are in `arg`)\n"
          "       nnrun --devices              list OpenCL platforms and devices\n"
          "       nnrun --tune [--tune-fraction F]\n"
          "                                    tune CLBlast's GEMM kernels on the NN_DEVICE device(s), trying\n"
          "                                    F of each kernel's configurations (default 1/256 on GPUs, 1/8192\n"
          "                                    on CPUs: minutes); prints GFLOP/s before and after, keeps the\n"
          "                                    result in the cache folder and uses it whenever CLBlast runs there\n"
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

/* The devices NN_DEVICE names when it names several ("0:0,1:0", "gpu,cpu" or "all"), each as
 * "P:D" in specs. Returns how many, or -1 after saying why on stderr. */
static int device_specs(const char *spec, char specs[16][64]) {
  nn_device_info *devices;
  int count;
  if (nn_cl_list_devices(&devices, &count) != 0) {
    fprintf(stderr, "nnrun: %s\n", nn_error());
    return -1;
  }
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
        return -1;
      }
      snprintf(specs[n++], sizeof specs[n], "%d:%d", devices[chosen].platform, devices[chosen].index);
    }
  }
  free(devices);
  if (n == 0) {
    fprintf(stderr, "nnrun: NN_DEVICE='%s' names no device\n", spec);
    return -1;
  }
  return n;
}

/* NN_DEVICE naming several devices ("0:0,1:0", "gpu,cpu" or "all"): one child nnrun per device,
 * each with NN_DEVICE set to its device and NN_SHARD to k/N, so nn.sweep spreads the members over
 * them. Returns the worst child status. */
static int run_on_devices(char **argv, const char *spec) {
  char specs[16][64];
  int n = device_specs(spec, specs);
  if (n < 0) return EXIT_SETUP;
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

/* What `nnrun --tune` tries by default. CLBlast 1.5.3 searches Xgemm twice (GEMMK 0 and 1) among
 * more than 16,000 configurations each, and XgemmDirect among about 10,000; its helper kernels have
 * 50 to 250. 1/256 is some 150 Xgemm and 40 XgemmDirect configurations, one of each helper:
 * minutes on a GPU that builds a kernel in a second or so (1/16 would be 2,500 builds). PoCL takes
 * about 10 s for each Xgemm configuration, so a CPU device gets a few, at sizes it runs quickly. */
#define TUNE_FRACTION_GPU (1.0 / 256)
#define TUNE_FRACTION_CPU (1.0 / 8192)
#define TUNE_SIZE_GPU 1024
#define TUNE_SIZE_CPU 256

/* "1/64" or "0.015625" into (0, 1]; false if it is neither. */
static bool parse_fraction(const char *text, double *out) {
  double a, b;
  char tail;
  if (sscanf(text, "%lf/%lf%c", &a, &b, &tail) == 2 && b != 0) *out = a / b;
  else if (sscanf(text, "%lf%c", &a, &tail) == 1) *out = a;
  else return false;
  return *out > 0 && *out <= 1;
}

/* nnrun --tune [--tune-fraction F]: tunes CLBlast's GEMM kernels on each device NN_DEVICE selects,
 * one after the other, whatever GEMM engine the device uses by default. */
static int tune_devices(int argc, char **argv) {
  double fraction = 0; /* 0: the device's default */
  if (argc == 4 && strcmp(argv[2], "--tune-fraction") == 0) {
    if (!parse_fraction(argv[3], &fraction)) {
      fprintf(stderr, "nnrun: --tune-fraction '%s': give a fraction in (0, 1], e.g. 1/64 or 0.01\n", argv[3]);
      return EXIT_SETUP;
    }
  } else if (argc != 2) {
    fprintf(stderr, "nnrun: --tune takes only --tune-fraction F\n");
    usage(stderr);
    return EXIT_SETUP;
  }
  const char *spec = nn_env("NN_DEVICE");
  bool several = spec && (strchr(spec, ',') || strcmp(spec, "all") == 0);
  char specs[16][64], user_gemm[64] = "";
  int n = several ? device_specs(spec, specs) : 1;
  if (n < 0) return EXIT_SETUP;
  if (nn_env("NN_GEMM")) snprintf(user_gemm, sizeof user_gemm, "%s", nn_env("NN_GEMM"));
  int status = EXIT_OK;
  for (int k = 0; k < n; k++) {
    nn_cl *cl;
    /* Which engine the device's runs use, then a handle with CLBlast, the engine being tuned. */
    if (*user_gemm) setenv("NN_GEMM", user_gemm, 1);
    else unsetenv("NN_GEMM");
    if (nn_cl_open(&cl, several ? specs[k] : spec, false) != 0) {
      fprintf(stderr, "nnrun: %s\n", nn_error());
      return EXIT_SETUP;
    }
    const char *engine = nn_gemm_engine(cl);
    if (strcmp(engine, "CLBlast") != 0) {
      printf("%s's GEMM engine is %s: the tuning applies to runs with NN_GEMM=clblast\n", nn_cl_device(cl)->name, engine);
      nn_cl_close(cl);
      setenv("NN_GEMM", "clblast", 1);
      if (nn_cl_open(&cl, several ? specs[k] : spec, true) != 0) {
        fprintf(stderr, "nnrun: %s\n", nn_error());
        return EXIT_SETUP;
      }
    }
    bool cpu = (nn_cl_device(cl)->type & CL_DEVICE_TYPE_CPU) != 0;
    nn_gemm_tune_options opt = {fraction ? fraction : cpu ? TUNE_FRACTION_CPU : TUNE_FRACTION_GPU,
                                cpu ? TUNE_SIZE_CPU : TUNE_SIZE_GPU, true, stdout};
    if (nn_gemm_tune(cl, &opt) != 0) {
      fprintf(stderr, "nnrun: %s\n", nn_error());
      status = EXIT_SCRIPT;
    }
    nn_cl_close(cl);
  }
  return status;
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
  if (strcmp(argv[1], "--tune") == 0) return tune_devices(argc, argv);
  if (argv[1][0] == '-') {
    fprintf(stderr, "nnrun: unknown option '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_SETUP;
  }
  const char *spec = nn_env("NN_DEVICE");
  if (spec && (strchr(spec, ',') || strcmp(spec, "all") == 0)) return run_on_devices(argv, spec);
  return run_script(argc, argv);
}
