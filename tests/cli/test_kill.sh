#!/usr/bin/env bash
# SIGKILL at random moments: a training run that checkpoints every epoch is killed again and
# again (at least KILLS times, some of them while a checkpoint is being written) and restarted
# each time; every restart must resume (a checkpoint is never half-written, or it would fail to
# load) and the final weights must equal, bit for bit, those of a run never interrupted. Then
# Ctrl-C: the first SIGINT is a flag a script polls, the second ends the process.
# Usage: test_kill.sh NNRUN JOB.lua [KILLS]
set -u
nnrun=$1 job=$2 kills_wanted=${3:-20}
# Long enough that the restarted run outlasts the kills with room to spare: 800 epochs take about
# 20 s on 2 cores, and took about 50 kills to finish (500 epochs, 12 s, finished after 18 to 28
# kills once GEMMs got faster, and the test failed).
epochs=800
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

"$nnrun" "$job" "$tmp/ref.ckpt" "$tmp/ref.weights" $epochs >/dev/null 2>"$tmp/ref.err" || bad "uninterrupted run: $(tail -3 "$tmp/ref.err")"

kills=0 runs=0 in_write=0 done=0
while ((!done && runs < 200)); do
  runs=$((runs + 1))
  "$nnrun" "$job" "$tmp/run.ckpt" "$tmp/run.weights" $epochs >/dev/null 2>"$tmp/run.err" &
  pid=$!
  if ((kills < kills_wanted)); then
    if ((kills % 3 == 2)); then
      # Every third kill waits for a checkpoint write to start (its temp file to appear).
      for _ in $(seq 1 20000); do
        compgen -G "$tmp/run.ckpt.tmp.*" >/dev/null && break
      done
    else
      # Otherwise 0.3 to 1 s: start-up (kernels come from the cache), then some epochs.
      sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.3 + 0.7 * r / 32768 }')"
    fi
    if kill -9 $pid 2>/dev/null; then
      kills=$((kills + 1))
      wait $pid 2>/dev/null
      # A temp file left behind means the kill came while a checkpoint was being written; the
      # checkpoint itself is whole (the next restart loads it) and the next write replaces it.
      if compgen -G "$tmp/run.ckpt.tmp.*" >/dev/null; then
        in_write=$((in_write + 1))
        rm -f "$tmp"/run.ckpt.tmp.*
      fi
      continue
    fi
  fi
  if wait $pid; then
    done=1
  else
    bad "run $runs failed: $(tail -3 "$tmp/run.err")"
    break
  fi
done
echo "$kills kills in $runs runs, $in_write of them during a checkpoint write"
((kills >= kills_wanted)) && ok || bad "only $kills kills: the run finished too soon"
((in_write > 0)) && ok || bad "no kill landed during a checkpoint write"
((done)) && cmp -s "$tmp/ref.weights" "$tmp/run.weights" && ok ||
  bad "the final weights differ from the uninterrupted run's"
# Ctrl-C (SIGINT), the mechanism model:fit uses: the first one only raises a flag the script can
# poll (nn._core interrupted()), the second ends the process at once.
cat >"$tmp/sigint.lua" <<'LUA'
local core = require "nn._core"
core.catch_interrupt()
print("ready")
io.stdout:flush()
local t0, seen = core.seconds(), 0
while core.seconds() - t0 < 20 do
  if core.interrupted() and seen == 0 then
    seen = 1
    print("caught")
    io.stdout:flush()
    if arg[1] == "stop" then os.exit(0) end
  end
  core.sleep(0.01)
end
os.exit(3)
LUA
wait_for() {  # wait_for FILE TEXT: up to 20 s
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
"$nnrun" "$tmp/sigint.lua" stop >"$tmp/int1.out" 2>&1 &
pid=$!
wait_for "$tmp/int1.out" ready && kill -INT $pid
wait $pid
status=$?
[[ $status -eq 0 ]] && grep -q caught "$tmp/int1.out" && ok || bad "first Ctrl-C: exit $status, $(cat "$tmp/int1.out")"
"$nnrun" "$tmp/sigint.lua" keep-going >"$tmp/int2.out" 2>&1 &
pid=$!
wait_for "$tmp/int2.out" ready && kill -INT $pid
wait_for "$tmp/int2.out" caught && kill -INT $pid
wait $pid
status=$?
[[ $status -eq 130 ]] && ok || bad "second Ctrl-C: exit $status (want 130, killed by SIGINT), $(cat "$tmp/int2.out")"

echo "$passed passed, $failed failed"
((failed == 0))
