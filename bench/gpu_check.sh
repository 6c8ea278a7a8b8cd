#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: run from the repository root as
#
#     bash bench/gpu_check.sh            (90 s on an H200; at most 8 minutes)
#
# 0. dependencies: minidl's and pytest's, each only if it does not import, from the wheels in
#    .gpu_wheels (filled beforehand by bench/gpu_wheels.sh, carried with the working tree),
#    unpacked into a scratch folder; nothing is downloaded;
# 1. environment: nvidia-smi, Python, NumPy, CuPy, PyTorch (CuPy and PyTorch with CUDA must
#    already be there; a missing one is reported and skipped);
# 2. python -m bench.gpu: CPU-GPU agreement on VGG16 (forward and one training step) and the
#    GPU benchmarks against PyTorch + cuDNN fp32 (TF32 off), then VGG16 inference in TF32
#    (minidl.set_precision("tf32") vs PyTorch allow_tf32, after their agreement against a
#    float64 forward), see bench/gpu.py;
# 2b. MINIDL_PRECISION=tf32 in a fresh process: CuPy's float32 GEMMs really run as TF32;
# 3. the tests marked `gpu` (every op and network test on CuPy, the kernels vs their NumPy
#    twins, TF32 changing CuPy's products), plus the nvcc compile test.
# Each step has a timeout; all together stay under 8 minutes (the issue's budget).
# Logs and results go to $OUT when it is set (else ./gpu_check_out).
# Before spending device time: `bash bench/gpu_wheels.sh` (fills .gpu_wheels), and rehearse
# steps 2 and 3 on the emulated GPU: `python -m bench.gpu_emulated` (~2 minutes) and
# `PYTHONPATH=tests pytest -p emulated_gpu.rehearsal -m gpu -o addopts=""` (~1 minute).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
export OUT
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Scratch space (unpacked wheels, minidl's cache) outside $OUT, which holds only the results.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/minidl_gpu_check.XXXXXX")"
export MINIDL_HOME="${MINIDL_HOME:-$SCRATCH/minidl_home}"  # no download can be needed, but
                                                           # keep the cache out of the user's home
status=0

echo "== dependencies"
SITE="$SCRATCH/site"
"$PY" - "$SITE" <<'PY'
import glob, importlib.util, os, sys, zipfile

site, wheels = sys.argv[1], os.environ.get("GPU_WHEELS", ".gpu_wheels")
python = f"cp{sys.version_info.major}{sys.version_info.minor}"
# distribution (wheel name) -> the module it provides
MODULES = {"numpy": "numpy", "pillow": "PIL", "requests": "requests", "urllib3": "urllib3",
           "idna": "idna", "certifi": "certifi", "charset_normalizer": "charset_normalizer",
           "tqdm": "tqdm", "pytest": "pytest", "pluggy": "pluggy", "iniconfig": "iniconfig",
           "packaging": "packaging", "pygments": "pygments", "exceptiongroup": "exceptiongroup", "tomli": "tomli",
           "typing_extensions": "typing_extensions"}
for dist, module in MODULES.items():
    if importlib.util.find_spec(module) is not None:
        continue
    found = [w for w in glob.glob(os.path.join(wheels, f"{dist}-*.whl"))
             if "-py3-none-any" in w or f"-{python}-{python}-" in w]
    if not found:
        print(f"{module}: missing, and no wheel for {python} in {wheels}")
        continue
    with zipfile.ZipFile(found[0]) as wheel:  # a wheel is a zip of the site-packages tree
        wheel.extractall(site)
    print(f"{module}: unpacked {os.path.basename(found[0])} into {site}")
PY
export PYTHONPATH="$PYTHONPATH:$SITE"

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
  echo "internet, or from a local wheel: pip install --no-index --find-links DIR cupy-cuda13x;"
  echo "cupy-cuda12x for CUDA 12)."
  exit 2
fi

# The figures first: if the machine's time runs out during the tests, they are already saved.
echo "== bench.gpu: agreement and speed"
timeout 240 "$PY" -m bench.gpu 2>&1 | tee "$OUT/bench_gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== MINIDL_PRECISION=tf32 in a fresh process reaches CuPy's GEMMs"
MINIDL_PRECISION=tf32 timeout 60 "$PY" - <<'PY' 2>&1 | tee "$OUT/precision.txt"
import numpy as np
import minidl
minidl.set_device("gpu")
import cupy
from cupy._core import _routines_linalg as linalg
a = cupy.ones((64, 64), np.float32)
(a @ a).get()  # CuPy decides its float32 compute type at the first GEMM
compute_type = linalg.get_compute_type(np.float32)
print("minidl precision", minidl.get_precision(), "- CuPy float32 compute type",
      linalg.compute_type_to_str(compute_type))
raise SystemExit(0 if compute_type == linalg.COMPUTE_TYPE_TF32 else 1)
PY
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== tests marked gpu (and the nvcc compile test)"
# Spread over 8 processes when pytest-xdist is there: most of a first run's time is CuPy
# compiling its kernels, which the processes share through CuPy's on-disk kernel cache.
PARALLEL=""
"$PY" -c "import xdist" 2>/dev/null && PARALLEL="-n 8"
timeout 170 "$PY" -m pytest tests -q -p no:cacheprovider -o addopts="" -m gpu --durations=10 $PARALLEL \
  2>&1 | tee "$OUT/pytest_gpu.txt" | tail -40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 30 "$PY" -m pytest tests/minidl/ops/test_cuda_compile.py -q -p no:cacheprovider \
  2>&1 | tail -3

echo "== done (status $status); results in $OUT"
exit $status
