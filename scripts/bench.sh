#!/usr/bin/env bash
# Runs a wick benchmark beside its anchor, in release mode. generate and worker build the
# llama.cpp anchor (once, cached); router measures direct worker calls beside routed ones; ledger
# measures the raw ed25519 verify rate beside committed transactions; explorer times the
# overview's JSON and page (headless Chromium) on 10 000 accounts and 100 workers.
# `generate --structured` measures a JSON schema (constrained decoding) and logprobs against
# plain decoding instead, with no anchor to build.
# Usage: scripts/bench.sh [generate|worker|router|ledger|explorer] [extra flags for `wick bench ...`]
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-generate}"
shift || true
wick="${CARGO_TARGET_DIR:-target}/release/wick"
case "$which" in
  router|ledger|explorer)
    [ "$which" != explorer ] || scripts/setup.sh
    cargo build --release -p wick-cli
    exec "$wick" bench "$which" "$@" ;;
esac
if [ "$which" = generate ] && [[ " $* " == *" --structured "* ]]; then
  cargo build --release -p wick-cli
  exec "$wick" bench generate "$@"
fi
anchor="${WICK_ANCHOR_SCRIPT:-scripts/llama-cpp-anchor.sh}"
command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake >/dev/null; }
bin_dir="$("$anchor")"
cargo build --release -p wick-cli
case "$which" in
  generate) exec "$wick" bench generate --llama-bench "$bin_dir/llama-bench" "$@" ;;
  worker) exec "$wick" bench worker --llama-server "$bin_dir/llama-server" "$@" ;;
  *) echo "usage: scripts/bench.sh [generate|worker|router|ledger|explorer] [flags]" >&2; exit 2 ;;
esac
