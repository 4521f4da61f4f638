#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and driver (>= 580, for CUDA 13): builds Wick
# with `--features cuda`, then on GPU `${WICK_GPU:-cuda:0}`
#   1. runs the pinned greedy prompts of both chat models and compares them with the CPU
#      kernels' outputs (same tokens, or the first differing token and the GPU's logit gap);
#   2. runs the device-path tests on the GPU: same model as the CPU kernels within quantization
#      noise, outputs independent of the batch, the prompt's chunking and a shared prefix;
#   3. starts a devnet with a GPU worker beside a CPU worker and checks that receipts carry each
#      worker's numeric class and that audits never compare the two classes;
#   4. prints decode and prefill tok/s and 8-stream throughput beside llama.cpp's CUDA build.
# Fails at the first step that fails, and at once (before building) where there is no GPU.
# Budget: 10 minutes after the one-time builds (Wick with CUDA, llama.cpp's CUDA build, ~15
# minutes together on 8 cores). Paste what it prints into the README's performance section.
set -euo pipefail
cd "$(dirname "$0")/.."
gpu="${WICK_GPU:-cuda:0}"
ordinal="${gpu#cuda:}"

if ! command -v nvidia-smi >/dev/null; then
  echo "gpu-check: no NVIDIA driver here (nvidia-smi is missing); this check needs a GPU" >&2
  exit 2
fi
if ! nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader -i "$ordinal"; then
  echo "gpu-check: nvidia-smi lists no GPU $ordinal" >&2
  exit 2
fi

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
started=$(date +%s)

step "toolkit and build"
scripts/setup.sh --cuda
# shellcheck source=scripts/cuda-env.sh
. scripts/cuda-env.sh
features=(--release -p wick-cli --features cuda,fault-injection)
models=(--release -p wick-models --features cuda)
cargo build "${features[@]}" --bins --tests
cargo build "${models[@]}" --examples --tests
wick=target/release/wick
"$wick" models fetch
"$wick" models fetch qwen2.5-coder-0.5b-instruct
built=$(date +%s)

step "1. pinned greedy prompts on $gpu against the CPU kernels"
for model in smollm2-135m-instruct qwen2.5-coder-0.5b-instruct; do
  cargo run -q "${models[@]}" --example device_golden -- "$gpu" "$model"
done

step "2. device-path tests on $gpu"
WICK_TEST_DEVICE="$gpu" cargo test -q "${models[@]}" --test device_path

step "3. a GPU worker beside a CPU worker in a devnet"
WICK_TEST_GPU_DEVICE="$gpu" cargo test -q "${features[@]}" --test devnet -- numeric_classes

step "4. speed beside llama.cpp's CUDA build"
anchor="$(scripts/llama-cpp-anchor.sh --cuda)"
for model in smollm2-135m-instruct qwen2.5-coder-0.5b-instruct; do
  "$wick" bench generate --device "$gpu" --model "$model" --reps 3 --llama-bench "$anchor/llama-bench"
  "$wick" bench worker --device "$gpu" --model "$model" --concurrency 1,8 --rounds 2 --memory-tokens 0 \
    --llama-server "$anchor/llama-server"
done

printf '\ngpu-check: passed; checks took %d s after a %d s build\n' "$(( $(date +%s) - built ))" "$(( built - started ))"
