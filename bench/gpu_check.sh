#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: run from the repository root as
#
#     bash bench/gpu_check.sh            (about 3-5 minutes; must fit in 8)
#
# 1. environment: nvidia-smi, Python, NumPy, CuPy, PyTorch (nothing is installed or downloaded:
#    CuPy and PyTorch with CUDA must already be there; a missing one is reported and skipped);
# 2. the tests marked `gpu` (every op on CuPy vs NumPy, the kernels vs their NumPy twins,
#    network fits on the GPU), plus the nvcc compile test;
# 3. python -m bench.gpu: CPU-GPU agreement on VGG16 (forward and one training step) and the
#    GPU benchmarks against PyTorch + cuDNN fp32 (TF32 off), see bench/gpu.py.
# Logs and results go to $OUT when it is set (else ./gpu_check_out).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export OUT
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MINIDL_HOME="${MINIDL_HOME:-$OUT/minidl_home}"   # no download can be needed, but keep
                                                        # the cache out of the user's home
status=0

echo "== environment" | tee "$OUT/environment.txt"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: none"
  "$PY" - <<'PY'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("numpy", "cupy", "torch"):
    try:
        m = importlib.import_module(name)
        extra = ""
        if name == "cupy":
            extra = f" cuda.is_available={m.cuda.is_available()}"
        if name == "torch":
            extra = f" cuda={m.version.cuda} is_available={m.cuda.is_available()}"
        print(name, m.__version__ + extra)
    except Exception as e:
        print(name, "NOT AVAILABLE:", repr(e))
PY
} 2>&1 | tee -a "$OUT/environment.txt"

if ! "$PY" -c "import cupy, sys; sys.exit(0 if cupy.cuda.is_available() else 1)" 2>/dev/null; then
  echo "CuPy with a CUDA device is required (pip install 'minidl[gpu]' on a machine with the"
  echo "internet, or from a local wheel: pip install --no-index --find-links DIR cupy-cuda12x)."
  exit 2
fi

echo "== tests marked gpu (and the nvcc compile test)"
timeout 240 "$PY" -m pytest tests -q -p no:cacheprovider -o addopts="" -m gpu \
  2>&1 | tee "$OUT/pytest_gpu.txt" | tail -40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 60 "$PY" -m pytest tests/minidl/ops/test_cuda_compile.py -q -p no:cacheprovider \
  2>&1 | tail -3

echo "== bench.gpu: agreement and speed"
timeout 300 "$PY" -m bench.gpu 2>&1 | tee "$OUT/bench_gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== done (status $status); results in $OUT"
exit $status
