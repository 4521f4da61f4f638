# Sourced (`. scripts/cuda-env.sh`): points cargo, candle's kernel build and cudarc at the CUDA
# toolkit `scripts/setup.sh --cuda` installed into the project's virtual environment.
_wick_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_wick_venv="${WICK_VENV:-$_wick_root/.venv}"
_wick_cuda="$(ls -d "$_wick_venv"/lib/python3*/site-packages/nvidia/cu13 2>/dev/null | head -n1)"
if [ -z "$_wick_cuda" ] || [ ! -x "$_wick_cuda/bin/nvcc" ]; then
  echo "cuda-env: no CUDA toolkit in $_wick_venv; run scripts/setup.sh --cuda first" >&2
  return 1 2>/dev/null || exit 1
fi
export CUDA_HOME="$_wick_cuda" CUDA_ROOT="$_wick_cuda" CUDA_PATH="$_wick_cuda"
export PATH="$_wick_cuda/bin:$PATH"
# The toolkit's libraries for programs built here; the driver (libcuda.so.1) comes from the
# machine's NVIDIA driver, never from the link-time stub in lib/stubs.
export LD_LIBRARY_PATH="$_wick_cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Without a GPU to ask, kernels are built for compute capability 8.0 (Ampere and later run it).
if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
  if command -v nvidia-smi >/dev/null && cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1)" && [ -n "$cap" ]; then
    export CUDA_COMPUTE_CAP="${cap//./}"
  else
    export CUDA_COMPUTE_CAP=80
  fi
fi
unset _wick_root _wick_venv _wick_cuda
