/* The one table of environment variables nnrun reads. `nnrun --help` prints it; README copies it. */
#include "nn_base.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const nn_env_var nn_env_vars[] = {
    {"NN_DEVICE", "OpenCL device: cpu, gpu, P:D (platform:device index) or part of its name; "
                  "unset: first GPU, else first CPU. Several, comma-separated, or all: one process "
                  "per device, sweep members spread over them"},
    {"NN_SHARD", "k/N: this process runs sweep members k, k+N, ... (set by nnrun for each device when "
                 "NN_DEVICE lists several; mpirun's rank and size are read the same way)"},
    {"NN_DATA", "folder holding the data sets (default: data/ in the source tree)"},
    {"NN_CACHE", "folder for compiled kernels and CLBlast tuning files (default: $XDG_CACHE_HOME/nnrun or "
                 "~/.cache/nnrun)"},
    {"NN_CL_DIR", "load kernels from this folder of .cl files instead of the copies built in "
                  "(for editing kernels without rebuilding)"},
    {"NN_GEMM", "GEMM engine: onednn or openblas (that host library's sgemm, run in the device's queue; CPU "
                "devices only), clblast (CLBlast's OpenCL kernels); unset: onednn on CPU devices, else clblast"},
    {"NN_CONV", "convolution engine: onednn (oneDNN's direct convolutions, run in the device's queue; CPU devices "
                "only), im2col (im2col + the GEMM engine); unset: onednn where the GEMMs run on oneDNN, else im2col"},
    {"NN_CHECK", "nan: stop at the first graph node that produces a NaN or infinity, naming its script line"},
    {"NN_PROFILE", "1: time every kernel and GEMM on its own (waiting for each), for bench/'s per-kernel "
                   "table; slows the run. queue: time each one inside the running queue by its device "
                   "events, gaps included, so the table adds up to the step"},
    {"NN_VERBOSE", "1: log kernel builds, cache hits and memory plans on stderr"},
    {NULL, NULL},
};

const char *nn_env(const char *name) {
  int declared = 0;
  for (const nn_env_var *v = nn_env_vars; v->name; v++) declared |= strcmp(v->name, name) == 0;
  assert(declared && "every NN_ variable must be declared in nn_env_vars");
  (void)declared;
  const char *value = getenv(name);
  return value && *value ? value : NULL;
}
