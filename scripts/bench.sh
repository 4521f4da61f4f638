#!/usr/bin/env bash
# Builds the llama.cpp anchor (once, cached) and runs a wick benchmark beside it.
# Usage: scripts/bench.sh [generate|worker] [extra flags for `wick bench ...`]
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-generate}"
shift || true
anchor="${WICK_ANCHOR_SCRIPT:-../shared/anchors/llama-cpp.sh}"
command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake >/dev/null; }
bin_dir="$("$anchor")"
cargo build --release -p wick-cli
wick="${CARGO_TARGET_DIR:-target}/release/wick"
case "$which" in
  generate) exec "$wick" bench generate --llama-bench "$bin_dir/llama-bench" "$@" ;;
  worker) exec "$wick" bench worker --llama-server "$bin_dir/llama-server" "$@" ;;
  *) echo "usage: scripts/bench.sh [generate|worker] [flags]" >&2; exit 2 ;;
esac
