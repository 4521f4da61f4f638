#!/usr/bin/env bash
# Completes the CUDA toolkit from PyPI (installed by `scripts/setup.sh --cuda`) for linking:
# unversioned library names (the wheels ship only `libcublas.so.13` and the like) and a
# link-time stub of the driver library, as NVIDIA's own toolkit ships in lib/stubs. The stub
# defines every driver function cudarc can call (read from cudarc's sources) and returns
# CUDA_ERROR_STUB_LIBRARY (34); its soname is libcuda.so.1, so on a machine with a GPU the
# binary loads the real driver instead. Idempotent.
set -euo pipefail
cuda="$1"
lib="$cuda/lib"
for so in "$lib"/libcudart.so.* "$lib"/libcublas.so.* "$lib"/libcublasLt.so.* "$lib"/libcurand.so.* "$lib"/libnvrtc.so.*; do
  [ -e "$so" ] || { echo "cuda-toolkit: $so is missing (run scripts/setup.sh --cuda)" >&2; exit 1; }
  base="${so##*/}"
  case "$base" in *builtins*|*.alt.*) continue ;; esac
  ln -sfn "$base" "$lib/${base%%.so*}.so"
done
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(grep -A1 '^name = "cudarc"$' "$root/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
[ -n "$version" ] || { echo "cuda-toolkit: cudarc is not in Cargo.lock" >&2; exit 1; }
(cd "$root" && cargo fetch -q)
sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$version"/src/driver/sys/mod.rs | head -n1)"
mkdir -p "$lib/stubs"
src="$lib/stubs/libcuda-stub.c"
grep -oP '^pub unsafe fn \Kcu\w+' "$sys" | sort -u | awk '{ print "int " $1 "(void) { return 34; }" }' > "$src"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/stubs/libcuda.so" "$src"
echo "cuda-toolkit: $(wc -l < "$src") driver symbols stubbed in $lib/stubs/libcuda.so" >&2
