#!/usr/bin/env bash
# bench/gpu_pack.sh: packs what a lent GPU machine needs to run build/nnrun and bench/gpu_check.sh:
# ../shared/gpu/prepare's run-time libraries, plus the Debian packages of every other shared
# library build/nnrun links (oneDNN, OpenBLAS, cairo and theirs), found with ldd and dpkg -S so
# the list follows the build. The GPU machine has NVIDIA's OpenCL driver and none of these.
#
#   ./setup.sh && bench/gpu_pack.sh      then, with the device tool: carry .gpu and build, run
#   source .gpu/env.sh && bench/gpu_check.sh
#
# libc6 and libstdc++6 are left out: the machine has its own, and NVIDIA's driver needs them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PREPARE=../shared/gpu/prepare
[[ -x $PREPARE ]] || { echo "gpu_pack: $PREPARE not found (it comes with the workplace's shared folder)" >&2; exit 1; }
[[ -x build/nnrun ]] || { echo "gpu_pack: build/nnrun not found: run ./setup.sh first" >&2; exit 1; }

# owner PATH: the package that installed a library; merged-/usr systems list it under /lib.
owner() {
  local real
  real=$(readlink -f "$1")
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || echo "gpu_pack: no package owns $1" >&2
}
packages=$(ldd build/nnrun build/bench/nn-bench-gemm build/tests/runtime/test_gemm | awk '$3 ~ /^\// {print $3}' |
  sort -u | while read -r lib; do owner "$lib"; done | cut -d: -f1 | sort -u |
  grep -vxE 'libc6|libstdc\+\+6|libgcc-s1|ocl-icd-libopencl1|libclblast1|liblua5\.4-0|libpng16-16|zlib1g')
extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
# prepare copies each extra folder into .gpu/; one named debs joins .gpu/debs, which env.sh unpacks.
mkdir "$extra/debs"
(cd "$extra/debs" && apt-get download $packages >/dev/null 2>&1) ||
  { echo "gpu_pack: apt-get download of $packages failed (run 'apt-get update' first)" >&2; exit 1; }
# A fresh .gpu/debs: packages left from an older build would be unpacked too.
rm -rf .gpu/debs
"$PREPARE" "$extra/debs"
echo "gpu_pack: .gpu/debs holds $(ls .gpu/debs | wc -l) packages; carry .gpu and build"
