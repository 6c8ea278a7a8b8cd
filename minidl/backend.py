"""The one place that decides where arrays live: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every other module asks this one for its array module instead of importing numpy or cupy
directly, so the same engine code runs on both:

    xp = get_array_module(x)      # numpy or cupy, whichever holds x
    y = xp.maximum(x, 0)

The default device is the CPU. ``MINIDL_DEVICE=gpu`` in the environment, or ``set_device("gpu")``
in code, selects the GPU for arrays created from then on. CuPy is imported only when the GPU is
asked for, so ``import minidl`` stays light on machines without it.
"""

import os

import numpy as np

_DEVICES = ("cpu", "gpu")
_cupy = None  # the cupy module once the GPU has been asked for and found usable
_device = None  # "cpu" or "gpu"; resolved lazily from MINIDL_DEVICE on first use


class DeviceError(RuntimeError):
    """The GPU was asked for but CuPy or a CUDA device is not usable."""


def _load_cupy():
    """Import CuPy and check that a CUDA device answers; raise DeviceError if not."""
    global _cupy
    if _cupy is not None:
        return _cupy
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
