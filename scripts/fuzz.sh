#!/usr/bin/env bash
# Installs cargo-fuzz (once) and runs a ledger fuzz target for a bounded time.
# Usage: scripts/fuzz.sh [target] [seconds]     (defaults: decode_tx, 120)
# There is no nightly toolchain here: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags
# cargo-fuzz needs. The fuzz crate (staking/fuzz) is its own workspace with its own target
# directory, so it never disturbs the main build. WICK_FUZZ_SANITIZER=address adds ASan (slower;
# the decoder is safe Rust, so the default looks for panics and non-canonical round trips).
set -euo pipefail
cd "$(dirname "$0")/../staking"
target="${1:-decode_tx}"
seconds="${2:-120}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
mkdir -p "fuzz/corpus/$target"
# Seeds: one valid encoding of every transaction kind; the dictionary holds the domain tags.
dict=()
[ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
exec cargo fuzz run --sanitizer "${WICK_FUZZ_SANITIZER:-none}" "$target" "fuzz/corpus/$target" \
  "fuzz/seeds/$target" -- -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 "${dict[@]}"
