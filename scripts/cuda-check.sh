#!/usr/bin/env bash
# Checks that the `cuda` feature builds, on a machine without a GPU: installs the CUDA toolkit
# from PyPI (scripts/setup.sh --cuda), compiles candle's CUDA kernels with nvcc, and type-checks
# Wick's GPU code path with the feature on. A broken kernel build or GPU-path code fails here;
# the link against cuBLAS, cuRAND, NVRTC and the driver stub is exercised by a release build with
# the feature and by scripts/gpu-check.sh. CI runs it beside the tests (.ci/run); its own target
# directory (target/cuda) keeps it from waiting on the tests' build lock.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --cuda
# shellcheck source=scripts/cuda-env.sh
. scripts/cuda-env.sh
export CARGO_TARGET_DIR="${WICK_CUDA_TARGET_DIR:-$PWD/target/cuda}"
# The kernels are compiled in full (parsed, instantiated, lowered to machine code) but without
# the device optimiser, which takes nine tenths of nvcc's time (143 s against 16 s for one of
# candle's matmul files on this machine): this build is checked, never run. A build to run
# (`cargo build --release --features cuda`, scripts/gpu-check.sh) optimises as usual.
export NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:--Xcicc -O0 -Xptxas -O0}"
# All code behind the feature lives in wick-models (the worker's and the CLI's `cuda` features
# only forward to it), so this covers it without compiling the rest of the workspace twice.
# `check` still runs the kernels' nvcc build and type-checks every crate with CUDA on, without
# the dependencies' codegen (~10 CPU-minutes that a cold CI run cannot spare); the link against
# cuBLAS and the driver stub is exercised by `cargo build --release --features cuda`.
cargo check -p wick-models --features cuda --example device_golden
echo "cuda-check: the cuda feature builds (kernels for compute capability $CUDA_COMPUTE_CAP)" >&2
