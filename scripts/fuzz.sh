#!/usr/bin/env bash
# Installs cargo-fuzz (once) and runs one fuzz target for a bounded time.
# Usage: scripts/fuzz.sh [target] [seconds]     (defaults: decode_tx, 120)
# Targets: decode_tx (ledger transactions, staking/fuzz); http_body (OpenAI request bodies) and
# grpc_request (wick.v1 request messages, grpc-timeout values), both in api/fuzz.
# There is no nightly toolchain here: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags
# cargo-fuzz needs. Each fuzz crate is its own workspace with its own target directory, so it
# never disturbs the main build. WICK_FUZZ_SANITIZER=address adds ASan (slower; the code under
# test is safe Rust, so the default looks for panics and broken invariants).
# New inputs that reach new code are kept in fuzz/corpus/<target> (committed); seeds in
# fuzz/seeds/<target>.
set -euo pipefail
target="${1:-decode_tx}"
seconds="${2:-120}"
case "$target" in
  decode_tx) crate=staking ;;
  http_body|grpc_request) crate=api ;;
  *) echo "unknown fuzz target $target (decode_tx, http_body, grpc_request)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../$crate"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
mkdir -p "fuzz/corpus/$target"
dict=()
[ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
exec cargo fuzz run --sanitizer "${WICK_FUZZ_SANITIZER:-none}" "$target" "fuzz/corpus/$target" \
  "fuzz/seeds/$target" -- -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 "${dict[@]}"
