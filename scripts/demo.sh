#!/usr/bin/env bash
# The main command from the README: sets up the machine, builds Wick in release mode, fetches the
# default models, starts a local network (a ledger of four validators, a router, two workers on
# loopback), sends a chat prompt through the router, prints the answer and its receipt, and stops
# the network.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wick-cli
dir="$(mktemp -d "${TMPDIR:-/tmp}/wick-devnet.XXXXXX")"
exec target/release/wick devnet --dir "$dir" --ledger-grpc 127.0.0.1:0 --ledger-p2p 127.0.0.1:0 \
  --router-grpc 127.0.0.1:0 --router-http 127.0.0.1:0 --chat "${*:-What is the capital of France?}"
