"""Run minidl's CUDA kernels on the CPU: the .cu sources compiled as C++ by g++, called by ctypes.

No GPU is needed, so the kernels' index arithmetic and the Python wrappers in
``minidl.ops.cuda`` are tested everywhere, not only on a GPU machine. ``Emulator.install``
makes ``minidl.ops.cuda`` use NumPy (or ``fake_cupy``) in place of CuPy and the compiled
functions as its kernels.
Limits: threads run one after another, so row kernels are launched with one thread per block
(their shared-memory reductions then have nothing to combine); the real reductions are checked
by the same tests on a GPU.
"""

import ctypes
import os
import shutil
import subprocess

import numpy as np

from minidl.ops import cuda

from emulated_gpu import fake_cupy

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "host_shim.h")
GXX = shutil.which("g++")

_CTYPES = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64, np.uint64: ctypes.c_uint64,
           np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.bool_: ctypes.c_bool}
# The C parameter type (host_shim.h's emulated_type_code) each argument type is packed as by
# CuPy; np.uint64 is the null pointer (cuda._pointer(None)).
_CODES = {np.int32: "i", np.int64: "x", np.uint64: "p", np.float32: "f", np.float64: "d",
          np.bool_: "b"}


def _symbol(expression, prefix="launch_"):
    """C name of the launcher of ``kernel<float>``: ``launch_kernel_float``."""
    return prefix + expression.replace("<", "_").replace(">", "")


def _translation_unit():
    """The shim, common.cuh and every .cu file, plus an extern "C" launcher per kernel."""
    text = [f'#include "{SHIM}"', _read(cuda.COMMON)]
    for filename in cuda.KERNELS:
        text.append(_read(filename))
        for e in cuda.name_expressions(filename):
            text.append(f'extern "C" void {_symbol(e)}(unsigned grid, unsigned block, void** args)'
                        f' {{ emulated_launch(&{e}, grid, block, args); }}')
            text.append(f'extern "C" const char* {_symbol(e, "signature_")}()'
                        f' {{ return emulated_signature(&{e}); }}')
    return "\n".join(text)


def _read(name):
    with open(os.path.join(cuda.HERE, name), encoding="utf-8") as f:
        return f.read()


def _code(a):
    """The C parameter type CuPy would pack argument ``a`` as (see ``_CODES``)."""
    if isinstance(a, (fake_cupy.ndarray, np.ndarray)):
        return "p"
    return _CODES.get(type(a), f"<{type(a).__name__}>")


def _argument(a):
    """A ctypes value for one kernel argument (arrays become their data pointer)."""
    if isinstance(a, fake_cupy.ndarray):
        a = a._data
    elif isinstance(a, np.ndarray):
        assert cuda._cupy() is np, "a kernel on fake_cupy was given a host array"
    if isinstance(a, np.ndarray):
        # The real kernels ignore strides: the wrappers must hand over contiguous arrays.
        assert a.flags.c_contiguous, "a kernel was given a non-contiguous array"
        return ctypes.c_void_p(a.ctypes.data)
    return _CTYPES[type(a)](a)


class Emulator:
    """The kernels compiled for the CPU into ``folder``."""

    def __init__(self, folder):
        src, lib = os.path.join(folder, "kernels.cpp"), os.path.join(folder, "kernels.so")
        with open(src, "w", encoding="utf-8") as f:
            f.write(_translation_unit())
        done = subprocess.run([GXX, "-std=c++17", "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o",
                               lib, src],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"g++ could not compile the kernels:\n{done.stderr}"
        self.lib = ctypes.CDLL(lib)

    def kernel(self, filename, name, dtype):
        """A callable like a CuPy RawKernel: ``kernel(grid, block, args)``."""
        dtype = cuda.check_dtype(name, dtype)
        expression = f"{name}<{cuda.TYPES[dtype]}>"
        launcher = getattr(self.lib, _symbol(expression))
        signature = getattr(self.lib, _symbol(expression, "signature_"))
        signature.restype = ctypes.c_char_p
        parameters = signature().decode()

        def launch(grid, block, args):
            # A kernel reads its arrays as raw memory of its one element type: a float array of
            # another dtype (float32 labels into a float64 kernel) would read garbage silently
            # on a GPU, and past the end of the array; here it is an error.
            for a in args:
                data = a._data if isinstance(a, fake_cupy.ndarray) else a
                if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                    assert data.dtype == dtype, (f"kernel {name}<{cuda.TYPES[dtype]}> was given "
                                                 f"a {data.dtype} array")
            passed = "".join(_code(a) for a in args)
            assert passed == parameters, (f"kernel {expression} takes parameters {parameters!r}, "
                                          f"was given {passed!r} (p pointer, i int32, x int64, "
                                          f"f float32, d float64, b bool)")
            fake_cupy.Launches.kernel(name)
            values = [_argument(a) for a in args]
            pointers = (ctypes.c_void_p * len(values))(
                *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
            launcher(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), pointers)
        return launch

    def install(self, monkeypatch, array_module=np):
        """Route ``minidl.ops.cuda`` to ``array_module`` (NumPy or ``fake_cupy.module``) and
        these kernels, in place of CuPy and its compiled modules (undone by monkeypatch)."""
        monkeypatch.setattr(cuda, "_cupy", lambda: array_module)
        monkeypatch.setattr(cuda, "_kernel", self.kernel)
        monkeypatch.setattr(cuda, "ROW_BLOCK", 1)  # see the module docstring
        monkeypatch.setattr(cuda, "MAX_BLOCKS", 64)  # fewer, longer grid-stride loops: faster
