#!/usr/bin/env bash
# bench/gpu_check.sh: the GPU checks of issue 10, as one script for a lent machine (see
# bench/gpu_pack.sh): the device list, the GEMM test suite on the GPU, GEMM GFLOP/s untuned,
# `nnrun --tune`, GFLOP/s tuned. Run from the project root after `source .gpu/env.sh`; writes
# everything to $OUT/gpu_check.txt (or ./gpu_check.txt) as it goes, so a run cut short keeps
# what it measured. Each step has its own time limit; all of them add up to 580 s, inside the device
# tool's 600 s a command.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log=${OUT:-.}/gpu_check.txt
export NN_DEVICE=${NN_DEVICE:-gpu}
# A fresh cache: the untuned figures must not pick up an earlier tuning.
export NN_CACHE=$(mktemp -d)
step() {  # step SECONDS TITLE COMMAND...
  local limit=$1 title=$2
  shift 2
  echo "## $title ($(date -u +%H:%M:%S) UTC, limit ${limit} s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "-> exit ${PIPESTATUS[0]}" | tee -a "$log"
}
# env.sh puts /tmp/nnlibs/usr/lib/x86_64-linux-gnu on the library path. OpenBLAS's libraries
# (libopenblas, and the libblas and liblapack that LAPACKE loads) sit one folder down, where
# Debian's alternatives would link them and dpkg -x does not; libexpat1 installs under /lib.
export LD_LIBRARY_PATH=/tmp/nnlibs/lib/x86_64-linux-gnu:/tmp/nnlibs/usr/lib/x86_64-linux-gnu/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
: >"$log"
step 10 "libraries build/nnrun cannot find (none expected)" sh -c \
  'ldd build/nnrun build/bench/nn-bench-gemm build/tests/runtime/test_gemm | grep "not found" | sort -u; true'
step 30 "devices" build/nnrun --devices
step 120 "GEMM against the float64 reference on $NN_DEVICE" build/tests/runtime/test_gemm
step 90 "GEMM GFLOP/s, untuned" build/bench/nn-bench-gemm
step 240 "nnrun --tune" build/nnrun --tune
step 90 "GEMM GFLOP/s, tuned" build/bench/nn-bench-gemm
