"""Compiled CPU loops, when numba is installed (``pip install 'minidl[jit]'``).

Most of the engine's CPU work is BLAS (convolutions and dense layers as GEMMs) or NumPy passes
that run at memory speed; a few loops are neither, and there NumPy leaves the machine half
idle: the depthwise convolution (``minidl.ops.depthwise_jit``) and batch norm's training-mode
sums (``minidl.ops.batch_norm_jit``). Their loops are compiled on first use (cached on disk
by numba afterwards) and run when

- numba can be imported, and
- ``MINIDL_JIT`` is not ``0`` (read at the first use; ``set_enabled`` changes it later).

Otherwise the NumPy path runs, with the same results up to float rounding: the tests run both.
"""

import importlib
import os
import warnings

import numpy as np

_enabled = None  # True, False, or None: not decided yet (MINIDL_JIT, then whether numba loads)


def set_enabled(flag):
    """Use the compiled loops (True, if numba can be imported) or the NumPy ones (False)."""
    global _enabled
    _enabled = bool(flag) and _numba_importable()


def enabled():
    """Whether the compiled loops run (see the module docstring)."""
    global _enabled
    if _enabled is None:
        _enabled = os.environ.get("MINIDL_JIT", "1").strip() != "0" and _numba_importable()
    return _enabled


def _numba_importable():
    try:
        importlib.import_module("numba")
    except ImportError:
        return False
    return True


# What the compiled loops are compiled for; anything else (float16, a CuPy array) takes the
# NumPy path.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernels(module, a=None):
    """The compiled-kernel module ``module`` (``"minidl.ops.depthwise_jit"``) imported, or None
    when the compiled loops are off or ``a`` (the array they would run on, if given) is not a
    float32 or float64 NumPy array. If numba is installed but cannot set the module up here (it
    refuses to cache when no folder is writable, for one), a warning says why and the NumPy
    loops run from then on."""
    if not enabled() or (a is not None and not (isinstance(a, np.ndarray)
                                                 and a.dtype in DTYPES)):
        return None
    try:
        return importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 (any failure: the NumPy loops still work)
        set_enabled(False)
        warnings.warn(f"minidl: the compiled loops are off: {module} failed to load "
                      f"({type(error).__name__}: {error}); the NumPy loops run instead",
                      RuntimeWarning, stacklevel=2)
        return None


def _numba():
    from minidl.io.optional import require
    return require("numba", "minidl's compiled loops (minidl.ops.jit)")


def kernel(loop):
    """``loop`` compiled by numba, for the kernel modules: without the GIL (minidl's threads
    run the loops side by side), without bounds checks, cached on disk (compiled once per
    machine)."""
    return _numba().njit(nogil=True, boundscheck=False, cache=True)(loop)


def helper(loop):
    """``kernel`` for a small function that the kernels call, inlined into them."""
    return _numba().njit(nogil=True, boundscheck=False, cache=True, inline="always")(loop)
