#!/usr/bin/env bash
# nnrun as a user meets it: options, exit codes (0 ok, 1 script error, 2 usage or set-up error),
# device selection errors, a second run that loads every kernel from the cache, --tune, and the
# step benches' options. Usage: test_cli.sh NNRUN BENCH_DIR
set -u
nnrun=$1 bench=$2
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() {  # expect NAME STATUS PATTERN -- COMMAND...
  local name=$1 status=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -eq $status ]] && grep -qF -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $rc (want $status), output: $out" >&2
  fi
}

expect "version" 0 "nnrun 0." -- "$nnrun" --version
expect "help lists variables" 0 "NN_DEVICE" -- "$nnrun" --help
expect "no arguments" 2 "usage:" -- "$nnrun"
expect "unknown option" 2 "unknown option '--bogus'" -- "$nnrun" --bogus
expect "devices" 0 "(* marks what NN_DEVICE selects)" -- "$nnrun" --devices
expect "nonsense device" 2 "NN_DEVICE='nonsense' matches no OpenCL device; use cpu, gpu, P:D" -- env NN_DEVICE=nonsense "$nnrun" --devices
expect "missing script" 2 "cannot open" -- "$nnrun" "$tmp/none.lua"

echo 'error("boom")' >"$tmp/fail.lua"
expect "script error" 1 "fail.lua:1: boom" -- "$nnrun" "$tmp/fail.lua"
printf 'print(arg[0], arg[1], arg[2], ...)\n' >"$tmp/args.lua"
expect "script arguments" 0 "a	b	a	b" -- "$nnrun" "$tmp/args.lua" a b

printf 'local nn = require "nn"\nlocal x = nn.graph():input("x", {4})\nnn.linear(x, 3)\n' >"$tmp/graph.lua"
printf 'local nn = require "nn"\nlocal g = nn.graph()\nlocal x = g:input("x", {4})\nlocal m = g:model{inputs = {x}, outputs = {y = nn.relu(nn.linear(x, 3))}}\nprint(m:predict(nn.tensor{{1, 2, 3, 4}}))\n' >"$tmp/run.lua"
expect "device in use is named" 0 "nnrun: device" -- env NN_CACHE="$tmp/cache" "$nnrun" "$tmp/run.lua"
expect "first run compiles" 0 "compiled kernels" -- env NN_CACHE="$tmp/cache2" "$nnrun" "$tmp/run.lua"
out=$(NN_CACHE="$tmp/cache2" "$nnrun" "$tmp/run.lua" 2>&1)
if grep -q "compiled kernels" <<<"$out"; then
  failed=$((failed + 1)); echo "FAIL second run recompiled: $out" >&2
else
  passed=$((passed + 1))
fi
printf 'require("nn").data.mnist{dir = "%s/nowhere"}\n' "$tmp" >"$tmp/nodata.lua"
expect "missing data is a set-up error naming the fix" 2 "./setup.sh" -- "$nnrun" "$tmp/nodata.lua"

# nnrun --tune at the smallest useful fraction (one configuration of each kernel): GFLOP/s before
# and after, the tuning file in NN_CACHE, applied by the next run that uses CLBlast; a file made on
# another device is not. tests/runtime/test_gemm_tune.c checks the products and damaged files.
expect "help names --tune" 0 "--tune-fraction F" -- "$nnrun" --help
expect "tune fraction out of range" 2 "--tune-fraction '2': give a fraction in (0, 1]" -- "$nnrun" --tune --tune-fraction 2
out=$(NN_CACHE="$tmp/tune" "$nnrun" --tune --tune-fraction 1/32768 2>&1)
if [[ $? -eq 0 && $out == *"before: 128x1000x784 (NT) "*"after: 128x1000x784 (NT) "*"stored in $tmp/tune/clblast-tuning-"* ]]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL tune: $out" >&2
fi
expect "tuning applied" 0 "CLBlast tuning applied from $tmp/tune/clblast-tuning-" -- \
  env NN_CACHE="$tmp/tune" NN_GEMM=clblast NN_VERBOSE=1 "$nnrun" "$tmp/run.lua"
sed -i 's/^device: .*/device: Another GPU/' "$tmp"/tune/clblast-tuning-*.txt
expect "tuning of another device ignored" 0 "ignored: made on 'Another GPU'" -- \
  env NN_CACHE="$tmp/tune" NN_GEMM=clblast NN_VERBOSE=1 "$nnrun" "$tmp/run.lua"

# The step benches (bench/step_bench.lua) with one step: the optimiser option, and a bad value.
expect "bench with SGD" 0 "of 1 steps (sgd)" -- "$nnrun" "$bench/mlp1.lua" --steps 1 --repeats 1 --no-gemm --optimizer sgd
expect "bench with a bad optimiser" 1 "--optimizer rmsprop: use adam or sgd" -- \
  "$nnrun" "$bench/mlp1.lua" --steps 1 --optimizer rmsprop
# NN_PROFILE=queue: the bench's per-kernel table adds up in the running queue and gives the GEMMs'
# share of the step; a value that is neither mode is a set-up error.
expect "bench profiled in the queue" 0 "in the queue         GEMMs" -- \
  env NN_PROFILE=queue "$nnrun" "$bench/mlp1.lua" --steps 2 --repeats 1 --no-gemm
expect "bad NN_PROFILE" 2 "NN_PROFILE='qeue': use 1 (each launch timed alone), queue" -- \
  env NN_PROFILE=qeue "$nnrun" "$bench/mlp1.lua" --steps 1

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
