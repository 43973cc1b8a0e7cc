#!/usr/bin/env bash
# Sweeps that survive: a run killed with SIGKILL in the middle of a member resumes without
# re-training finished members and ends with the same results as an uninterrupted run; a damaged
# state file costs only its member; two devices (and mpirun -n 2, where Open MPI is installed)
# share the members and give the same results.
# Usage: test_sweep.sh NNRUN JOB.lua
set -u
nnrun=$1 job=$2
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*" >&2; }

"$nnrun" "$job" "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" || bad "uninterrupted run: $(tail -3 "$tmp/a.err")"
[[ $(grep -c . "$tmp/a.out") -eq 4 ]] && ok || bad "uninterrupted run printed $(cat "$tmp/a.out")"

# SIGKILL once the second member is past its first epoch (where the job pauses), then run again.
SWEEP_PAUSE_AT="m2 1" "$nnrun" "$job" "$tmp/b" >/dev/null 2>"$tmp/b1.err" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "EPOCH m2 1" "$tmp/b1.err" 2>/dev/null && break
  sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[[ -f $tmp/b/m1.result && ! -f $tmp/b/m2.result ]] && ok || bad "kill came at the wrong time: $(ls "$tmp/b")"
"$nnrun" "$job" "$tmp/b" >"$tmp/b.out" 2>"$tmp/b2.err" || bad "resumed run: $(tail -3 "$tmp/b2.err")"
grep -q "RUN m1" "$tmp/b2.err" && bad "m1 was trained again" || ok
grep -q "resuming from" "$tmp/b2.err" && ok || bad "m2 did not resume from its checkpoint"
cmp -s "$tmp/a.out" "$tmp/b.out" && ok || bad "resumed results differ: $(diff "$tmp/a.out" "$tmp/b.out")"

# A damaged state file: named, and only its member runs again.
printf 'garbage{' >"$tmp/b/m3.result"
"$nnrun" "$job" "$tmp/b" >"$tmp/c.out" 2>"$tmp/c.err" || bad "run after damage: $(tail -3 "$tmp/c.err")"
grep -q "m3.result is damaged" "$tmp/c.err" && ok || bad "the damaged file was not named"
[[ $(grep -c "^RUN" "$tmp/c.err") -eq 1 ]] && grep -q "RUN m3" "$tmp/c.err" && ok || bad "not exactly m3 ran again"
cmp -s "$tmp/a.out" "$tmp/c.out" && ok || bad "results after repair differ"

# Two devices (here the same CPU twice): each member runs once, results as on one device.
NN_DEVICE=cpu,cpu "$nnrun" "$job" "$tmp/d" >"$tmp/d.out" 2>"$tmp/d.err" || bad "two devices: $(tail -3 "$tmp/d.err")"
[[ $(grep -c "^RUN" "$tmp/d.err") -eq 4 ]] && ok || bad "two devices ran $(grep -c '^RUN' "$tmp/d.err") members"
grep -q "on shard 1 of 2" "$tmp/d.err" && ok || bad "the second process ran nothing"
cmp -s "$tmp/a.out" "$tmp/d.out" && ok || bad "two-device results differ: $(diff "$tmp/a.out" "$tmp/d.out")"

if command -v mpirun >/dev/null; then
  mpirun --allow-run-as-root --oversubscribe -n 2 "$nnrun" "$job" "$tmp/e" >"$tmp/e.out" 2>"$tmp/e.err" \
    || bad "mpirun: $(tail -3 "$tmp/e.err")"
  grep -q "on shard 1 of 2" "$tmp/e.err" && ok || bad "mpirun rank 1 ran nothing"
  cmp -s "$tmp/a.out" "$tmp/e.out" && ok || bad "mpirun results differ: $(diff "$tmp/a.out" "$tmp/e.out")"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
