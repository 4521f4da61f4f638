#!/usr/bin/env bash
# The test command from the README: sets up the machine, fetches the default models (tests run
# them for real), checks formatting and lints, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --workspace --all-targets
cargo run -q -p wick-cli -- models fetch
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
