#!/usr/bin/env bash
# The test command from the README: sets up the machine, fetches the default models (tests run
# them for real), checks formatting and lints, and runs every test of the workspace.
#
# The tests that make a worker lie on purpose need the `fault-injection` feature of wick-cli
# (release builds leave it out). Every cargo step gets it: a step without it would rebuild the
# workspace without the hooks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
features=(--features wick-cli/fault-injection)
cargo build --workspace --all-targets "${features[@]}"
cargo run -q -p wick-cli "${features[@]}" -- models fetch
cargo fmt --all -- --check
cargo clippy --workspace --all-targets "${features[@]}" -- -D warnings
cargo test --workspace "${features[@]}"
