#!/usr/bin/env bash
# Builds the llama.cpp anchor (once, cached) and runs `wick bench generate` beside it.
# Usage: scripts/bench.sh [extra flags for `wick bench generate`]
set -euo pipefail
cd "$(dirname "$0")/.."
anchor="${WICK_ANCHOR_SCRIPT:-../shared/anchors/llama-cpp.sh}"
command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake >/dev/null; }
bin_dir="$("$anchor")"
cargo build --release -p wick-cli
exec target/release/wick bench generate --llama-bench "$bin_dir/llama-bench" "$@"
