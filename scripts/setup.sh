#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and run Wick. Idempotent: each step
# is skipped when its tool is already there. Run as root (CI does) or with sudo available.
set -euo pipefail

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v c++ >/dev/null || need_apt+=(g++)
# rocksdb's build runs bindgen, which needs libclang.
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need_apt+=(libclang-dev)

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

command -v cargo >/dev/null || {
  echo "setup: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
}
