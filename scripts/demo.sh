#!/usr/bin/env bash
# The main command from the README: sets up the machine, builds Wick in release mode, fetches the
# default chat model and answers a chat prompt with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -p wick-cli -- generate "${@:-What is the capital of France?}"
