#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and run Wick. Idempotent: each step
# is skipped when its tool is already there. Run as root (CI does) or with sudo available.
#
# `--cuda` also installs the CUDA toolkit (nvcc, headers, cuBLAS, cuRAND, NVRTC) from PyPI into
# the project's virtual environment, for `cargo build --features cuda` after
# `. scripts/cuda-env.sh`. No GPU is needed to build.
set -euo pipefail
with_cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) with_cuda=1 ;;
    *) echo "setup: unknown option $arg (known: --cuda)" >&2; exit 2 ;;
  esac
done

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v cc >/dev/null || need_apt+=(build-essential)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v c++ >/dev/null || need_apt+=(g++)
# rocksdb's build runs bindgen, which needs libclang.
# (libclang-dev ships the unversioned libclang.so and the clang headers bindgen needs.)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need_apt+=(libclang-dev)
# The explorer's browser test drives headless Chromium through chromedriver (WebDriver).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The Python clients the tests drive (the official `openai` package, `grpcio`) live in a virtual
# environment of the project's own, so the system Python stays untouched.
venv="${WICK_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}"
requirements="$(dirname "$0")/../examples/python/requirements.txt"
stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "setup: installing the Python test clients into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

command -v cargo >/dev/null || {
  echo "setup: cargo is missing; install the Rust toolchain (rustup) first" >&2
  exit 1
}

if [ "$with_cuda" -eq 1 ]; then
  cuda_requirements="$(dirname "$0")/cuda-requirements.txt"
  cuda_stamp="$venv/.cuda-requirements"
  if ! cmp -s "$cuda_requirements" "$cuda_stamp" 2>/dev/null; then
    echo "setup: installing the CUDA toolkit from PyPI into $venv (about 1 GB)" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$cuda_requirements"
    cp "$cuda_requirements" "$cuda_stamp"
  fi
  cuda_home="$(ls -d "$venv"/lib/python3*/site-packages/nvidia/cu13 | head -n1)"
  if [ ! -e "$cuda_home/lib/stubs/libcuda.so" ] || [ ! -e "$cuda_home/lib/libcublas.so" ]; then
    "$(dirname "$0")/cuda-toolkit.sh" "$cuda_home"
  fi
fi
