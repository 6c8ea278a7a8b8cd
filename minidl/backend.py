"""The one place that decides where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every other module asks this one for its array module instead of importing numpy or cupy
directly, so the same engine code runs on both:

    xp = get_array_module(x)      # numpy or cupy, whichever holds x
    y = xp.maximum(x, 0)

The default device is the CPU. ``MINIDL_DEVICE=gpu`` in the environment, or ``set_device("gpu")``
in code, selects the GPU for arrays created from then on. CuPy is imported only when the GPU is
asked for, so ``import minidl`` stays light on machines without it.

GPU precision: ``MINIDL_PRECISION`` or ``set_precision``, ``"fp32"`` (the default) or ``"tf32"``
(float32 matrix products on tensor cores with 10-bit mantissa inputs, fp32 accumulation: what
PyTorch's ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``
allow; minidl's convolutions are matrix products too, so one switch covers both). It has no
effect on the CPU (NumPy has no TF32). How CuPy takes it: CuPy reads ``CUPY_TF32`` lazily, at
its first float32 matrix product, and caches the answer per dtype
(``cupy._core._routines_linalg.get_compute_type``); changing ``CUPY_TF32`` after that does
nothing. So minidl sets ``CUPY_TF32`` before it imports CuPy, and sets CuPy's cached compute
type itself (``_routines_linalg.set_compute_type``) whenever the precision changes while CuPy
is loaded, so ``set_precision`` takes effect at the next matrix product at any time. With a
CuPy that lacks that function, a change once CuPy is loaded is refused (``PrecisionError``),
since it might not take effect.
"""

import os

import numpy as np

_DEVICES = ("cpu", "gpu")
PRECISIONS = ("fp32", "tf32")
_cupy = None  # the cupy module once the GPU has been asked for and found usable
_device = None  # "cpu" or "gpu"; resolved lazily from MINIDL_DEVICE on first use
_precision = None  # "fp32" or "tf32"; resolved lazily from MINIDL_PRECISION on first use


class DeviceError(RuntimeError):
    """The GPU was asked for but CuPy or a CUDA device is not usable."""


class PrecisionError(RuntimeError):
    """A GPU precision change that this CuPy could not put into effect."""


def _load_cupy():
    """Import CuPy and check that a CUDA device answers; raise DeviceError if not."""
    global _cupy
    if _cupy is not None:
        return _cupy
    os.environ["CUPY_TF32"] = "1" if get_precision() == "tf32" else "0"  # before CuPy's 1st GEMM
    try:
        import cupy
    except ImportError as e:
        raise DeviceError(
            "the GPU was asked for (--device gpu, MINIDL_DEVICE=gpu or set_device('gpu')) but CuPy is not "
            "installed; install it with: pip install 'minidl[gpu]'") from e
    if not cupy.cuda.is_available():
        raise DeviceError(
            "the GPU was asked for (--device gpu, MINIDL_DEVICE=gpu or set_device('gpu')) but CuPy finds no "
            "usable CUDA device")
    _apply_precision(cupy, get_precision(), strict=False)  # a CuPy imported (and used) before
    _cupy = cupy
    return cupy


def _check_name(device):
    name = str(device).lower()
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        return "gpu"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown device {device!r}: expected one of {', '.join(_DEVICES)}")


def set_device(device):
    """Select where new parameters and data live: ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy)."""
    global _device
    name = _check_name(device)
    if name == "gpu":
        _load_cupy()
    _device = name


def get_device():
    """The current default device name, ``"cpu"`` or ``"gpu"``."""
    if _device is None:
        set_device(os.environ.get("MINIDL_DEVICE", "cpu") or "cpu")
    return _device


def _check_precision(precision, source="set_precision"):
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"{source}: unknown GPU precision {precision!r}, expected one of "
                         f"{', '.join(PRECISIONS)}")
    return name


def set_precision(precision):
    """Select the GPU's float32 matrix-product precision: ``"fp32"`` (exact float32, the
    default) or ``"tf32"`` (tensor cores, about 1e-3 relative error: PyTorch's allow_tf32).
    Takes effect at the next matrix product; no effect on the CPU. See the module docstring."""
    global _precision
    name = _check_precision(precision)
    if _cupy is not None and name != get_precision():
        _apply_precision(_cupy, name, strict=True)
    _precision = name


def get_precision():
    """The GPU precision in force, ``"fp32"`` or ``"tf32"`` (from MINIDL_PRECISION at first)."""
    global _precision
    if _precision is None:
        _precision = _check_precision(os.environ.get("MINIDL_PRECISION") or "fp32",
                                      "MINIDL_PRECISION")
    return _precision


def _apply_precision(cupy, name, strict):
    """Set CuPy's cached float32 GEMM compute type (what CUPY_TF32 decides at its first GEMM).
    Without CuPy's switch: a PrecisionError when ``strict``, else rely on CUPY_TF32 alone."""
    linalg = _cupy_gemm_settings(cupy)
    if linalg is None:
        if strict:
            raise PrecisionError(
                f"set_precision({name!r}): this CuPy has no cupy._core._routines_linalg."
                f"set_compute_type, and it reads CUPY_TF32 only once, at its first float32 matrix "
                f"product, so the change might not take effect; set MINIDL_PRECISION={name} "
                f"before the process starts (or call set_precision before using the GPU)")
        return
    compute_type = linalg.COMPUTE_TYPE_TF32 if name == "tf32" else linalg.COMPUTE_TYPE_DEFAULT
    linalg.set_compute_type(np.float32, compute_type)


def _cupy_gemm_settings(cupy):
    """CuPy's module holding the GEMM compute types (``cupy._core._routines_linalg``), or None
    where this CuPy has no such switch."""
    linalg = getattr(getattr(cupy, "_core", None), "_routines_linalg", None)
    if linalg is None and getattr(cupy, "__name__", "") == "cupy":
        try:
            import cupy._core._routines_linalg as linalg
        except ImportError:
            return None
    needed = ("set_compute_type", "COMPUTE_TYPE_TF32", "COMPUTE_TYPE_DEFAULT")
    return linalg if all(hasattr(linalg, n) for n in needed) else None


def gpu_available():
    """True when CuPy imports and a CUDA device answers (never raises)."""
    try:
        _load_cupy()
        return True
    except DeviceError:
        return False


def array_module(device=None):
    """The array module of a device (default: the current one)."""
    name = get_device() if device is None else _check_name(device)
    return _load_cupy() if name == "gpu" else np


def is_gpu_array(a):
    """True for a CuPy array; never imports CuPy to find out."""
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def _unwrap(a):
    """The array inside a Tensor (recognised by duck typing: backend must not import autograd)."""
    return a.data if hasattr(a, "requires_grad") else a


def get_array_module(*arrays):
    """numpy or cupy: cupy if any argument (array or Tensor) lives on the GPU."""
    for a in arrays:
        if is_gpu_array(_unwrap(a)):
            return _cupy
    return np


def device_of(a):
    """``"gpu"`` for a CuPy array (or a Tensor holding one), else ``"cpu"``."""
    return "gpu" if is_gpu_array(_unwrap(a)) else "cpu"


def to_cpu(a):
    """A NumPy array with the data of ``a`` (a NumPy or CuPy array, a Tensor, or a scalar)."""
    a = _unwrap(a)
    if is_gpu_array(a):
        return a.get()
    return np.asarray(a)


def to_device(a, device=None):
    """``a`` as an array of ``device`` (default: the current device), copying only if needed."""
    name = get_device() if device is None else _check_name(device)
    if name == "cpu":
        return to_cpu(a)
    cupy = _load_cupy()
    return cupy.asarray(a)
