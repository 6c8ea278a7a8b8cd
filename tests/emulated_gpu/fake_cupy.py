"""A CuPy stand-in for machines without a GPU: NumPy data behind CuPy's rules.

minidl's GPU code path is its CPU code path run on CuPy arrays, plus the CUDA kernels of
``minidl.ops.cuda``. Much of what can break on a GPU is not in the kernels but in the Python
around them: a NumPy function handed a device array, a host array mixed into a device
computation, a NumPy-only function that CuPy lacks. ``module`` stands where ``cupy`` would, so
the test suite finds those on any machine:

- its arrays (``ndarray``) hold NumPy data but refuse implicit conversion: ``np.asarray(a)``
  raises TypeError as it does for a CuPy array, and ``a.get()`` copies to the host;
- its functions and array methods refuse NumPy array arguments ("Unsupported type"), except
  ``asarray``/``array``, which copy host data to the device, and ``a[i] = host`` / indices;
- NumPy functions called on its arrays dispatch back to it (``__array_ufunc__`` and
  ``__array_function__``), as they do for CuPy arrays;
- a reduction or a scalar index gives a 0-d device array, never a NumPy scalar, and a scalar
  index a view of the element, as in CuPy (``x = a[i]; a[i] = 0`` changes ``x``);
- only names CuPy 14 has exist (``cupy_names.txt``, taken from ``dir(cupy)``);
- float32 matrix products follow CuPy's GEMM compute type (``_core._routines_linalg``): read
  from ``CUPY_TF32`` at the first one and cached, changed by ``set_compute_type``; under TF32
  their inputs are rounded to TF32's 10-bit mantissa, as tensor cores do (fp32 sums).

What it cannot show: speed, memory, streams, and the kernels themselves, which run through the
g++ emulator (``kernels.py``) and, on a GPU machine, the same tests on real CuPy.
"""

import operator
import os
import types

import numpy as np

_NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_names.txt")


def _cupy_names():
    """(module names, ndarray attribute names) of the CuPy the snapshot was taken from."""
    module, array = set(), set()
    with open(_NAMES_FILE, encoding="utf-8") as f:
        for line in f:
            name = line.strip()
            if not name or name.startswith("#"):
                continue
            if name.startswith("ndarray."):
                array.add(name[len("ndarray."):])
            else:
                module.add(name)
    return frozenset(module), frozenset(array)


MODULE_NAMES, ARRAY_NAMES = _cupy_names()


# -- crossing the host/device line -----------------------------------------------------------
def _host(value):
    """The NumPy data inside a device value, refusing host arrays as CuPy does."""
    if isinstance(value, ndarray):
        return value._data
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}: a NumPy array was given to a CuPy "
                        f"function (move it with cupy.asarray first)")
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    if isinstance(value, dict):
        return {k: _host(v) for k, v in value.items()}
    return value


def _index(key):
    """An index for ``a[key]``: device arrays unwrapped, host index arrays allowed."""
    if isinstance(key, ndarray):
        return key._data
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return key


def _device(value):
    """A NumPy result as device values: arrays and NumPy scalars become device arrays."""
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    if isinstance(value, list):
        return [_device(v) for v in value]
    return value


def _on_device(function):
    """``function`` (a NumPy callable) taking and returning device arrays."""
    def call(*args, **kwargs):
        host_args = _host(args)
        with np.errstate(all="ignore"):  # a GPU gives inf and NaN without a word, as CuPy does
            result = function(*host_args, **_host(kwargs))
        owner = getattr(function, "__self__", None)  # a method's array is an input too
        Launches.seen(getattr(function, "__name__", "?"), result, (*host_args, owner), kwargs)
        out = kwargs.get("out")
        out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
        if isinstance(out, ndarray) and result is out._data:
            return out  # like CuPy (and NumPy), an ``out=`` call returns ``out`` itself
        return _device(result)

    call.__name__ = getattr(function, "__name__", "function")
    return call


# CuPy reads shapes, axes and split points on the host by iterating over them, so a NumPy
# integer array is accepted there (``a.transpose(np.argsort(axes))``, ``cupy.split(a, bounds)``:
# ``_ndarray_transpose``/``_ndarray_reshape`` take ``tuple(arg)``, ``array_split`` iterates
# ``indices_or_sections``). These are the callables, and the positions, where that holds.
_STATIC_ARGUMENTS = {"ndarray.transpose": 0, "ndarray.reshape": 0, "split": 1, "array_split": 1}


def _with_static(function, position):
    """``function`` with a host integer array at ``position`` read as a tuple of ints."""
    def call(*args, **kwargs):
        arg = args[position] if len(args) > position else None
        if isinstance(arg, np.ndarray) and arg.dtype.kind in "iu":
            args = args[:position] + (tuple(arg.tolist()),) + args[position + 1:]
        return function(*args, **kwargs)

    call.__name__ = function.__name__
    return call


def _require(name, names, what):
    if name not in names:
        raise AttributeError(f"{what} has no attribute {name!r} in CuPy 14 (fake_cupy allows "
                             f"only CuPy's names)")


# -- reads back to the host: each one waits for the GPU -------------------------------------
class HostReads:
    """How many times device values were read on the host (``get``, ``item``, ``float()``,
    ``bool()``, ``asnumpy``...): on a GPU each one waits until the queued kernels have run, so
    a loop that reads once per step cannot queue the next step's launches ahead."""

    count = 0

    @classmethod
    def seen(cls, value):
        cls.count += 1
        return value


class Launches:
    """Kernels CuPy would launch, counted by name (``Launches.counts``) while ``counting``: every
    call that computes a new array (a ufunc, a product, a reduction, a copy, a fill), not those
    that only make a view or allocate (``empty``), plus minidl's own CUDA kernels
    (``tests/emulated_gpu/kernels.py``)."""

    counting = False
    counts = {}
    ALLOCATIONS = ("empty", "empty_like")

    @classmethod
    def seen(cls, name, result, inputs, kwargs):
        if not cls.counting or name in cls.ALLOCATIONS or not isinstance(result, np.ndarray):
            return
        writes = "out" in kwargs or name in _IN_PLACE  # into an existing array: a kernel
        if not writes and any(isinstance(a, np.ndarray) and np.shares_memory(a, result)
                              for a in inputs):
            return  # a view (reshape, transpose, astype to its own dtype): no kernel
        cls.counts[name] = cls.counts.get(name, 0) + 1

    @classmethod
    def kernel(cls, name):
        """One launch of minidl's CUDA kernel ``name``."""
        if cls.counting:
            cls.counts[name] = cls.counts.get(name, 0) + 1

    @classmethod
    def total(cls):
        return sum(cls.counts.values())


# -- the array -------------------------------------------------------------------------------
class ndarray:
    """A device array: NumPy data that only mixes with device arrays and scalars."""

    __slots__ = ("_data", "__weakref__")  # CuPy's arrays take weak references too

    def __init__(self, data):
        self._data = data

    def get(self):
        """A NumPy copy on the host."""
        return HostReads.seen(self._data.copy())

    def item(self):
        return HostReads.seen(self._data.item())

    def tolist(self):
        return HostReads.seen(self._data.tolist())

    @property
    def data(self):
        """CuPy's ``.data`` is the device address (a MemoryPointer), not the contents: code that
        reads ``a.data`` meaning a Tensor's array gets an opaque object here as on a GPU."""
        return MemoryPointer(self)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _require(ufunc.__name__, MODULE_NAMES, "cupy")
        if ufunc is np.matmul and method == "__call__":
            return module.matmul(*inputs, **kwargs)  # a GEMM: CuPy's compute type applies
        return _on_device(getattr(ufunc, method))(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        _require(func.__name__, MODULE_NAMES, "cupy")
        return getattr(module, func.__name__)(*args, **kwargs)  # cupy's function, as CuPy does

    def __getattr__(self, name):  # shape, dtype, reshape, sum, astype, T, ...
        _require(name, ARRAY_NAMES, "cupy.ndarray")
        value = getattr(self._data, name)
        if not callable(value):
            return _device(value)
        if f"ndarray.{name}" in _STATIC_ARGUMENTS:
            return _with_static(_on_device(value), _STATIC_ARGUMENTS[f"ndarray.{name}"])
        return _on_device(value)

    def __getitem__(self, key):
        result = self._data[_index(key)]
        if isinstance(result, np.generic):  # CuPy gives a 0-d view: later writes change it
            result = self._data[(*_index(key if isinstance(key, tuple) else (key,)), ...)]
        return _device(result)

    def __setitem__(self, key, value):  # CuPy copies a host value over
        self._data[_index(key)] = value._data if isinstance(value, ndarray) else value

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (_device(row) for row in self._data)

    def __bool__(self):
        return HostReads.seen(bool(self._data))

    def __float__(self):
        return HostReads.seen(float(self._data))

    def __int__(self):
        return HostReads.seen(int(self._data))

    def __format__(self, spec):
        return HostReads.seen(format(self._data, spec))

    def __repr__(self):
        return repr(self._data).replace("array(", "fake_cupy.array(", 1)

    def __copy__(self):
        return ndarray(self._data.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._data.copy())

    __hash__ = None


class MemoryPointer:
    """Stands in for ``cupy.cuda.MemoryPointer``: an address, no array inside."""

    __slots__ = ("ptr",)

    def __init__(self, array):
        self.ptr = id(array)


def _operator(function, wrap=None):
    return lambda self, *other: (wrap or _on_device)(function)(self, *other)


def _reflected(function, wrap=None):
    return lambda self, other: (wrap or _on_device)(function)(other, self)


# -- matrix products: CuPy's GEMM compute type (cupy._core._routines_linalg) ------------------
COMPUTE_TYPE_TBD, COMPUTE_TYPE_DEFAULT, COMPUTE_TYPE_TF32 = 0, 1, 7
_compute_types = {}  # dtype -> compute type, as CuPy caches it


def _get_compute_type(dtype):
    """As CuPy: decided at the first float32 GEMM from CUPY_TF32, then cached."""
    dtype = np.dtype(dtype)
    if _compute_types.get(dtype, COMPUTE_TYPE_TBD) == COMPUTE_TYPE_TBD:
        tf32 = dtype == np.float32 and int(os.getenv("CUPY_TF32", "0")) > 0
        _compute_types[dtype] = COMPUTE_TYPE_TF32 if tf32 else COMPUTE_TYPE_DEFAULT
    return _compute_types[dtype]


def _set_compute_type(dtype, compute_type):
    _compute_types[np.dtype(dtype)] = compute_type


def to_tf32(a):
    """float32 values rounded to TF32 (10 of float32's 23 mantissa bits, to nearest)."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def _gemm(function):
    """``function`` (a NumPy matrix product) on device arrays, its float32 inputs rounded to
    TF32 when CuPy's compute type says so; float16 products computed in float32 and rounded to
    half once, as cuBLAS's GemmEx with CUBLAS_COMPUTE_32F does (NumPy would sum in half)."""
    def call(*args, **kwargs):
        host = _host(args)
        if any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in host) and \
                _get_compute_type(np.float32) == COMPUTE_TYPE_TF32:
            args = tuple(ndarray(to_tf32(a)) if isinstance(a, np.ndarray) and
                         a.dtype == np.float32 else arg for a, arg in zip(host, args))
        arrays = [a for a in host if isinstance(a, np.ndarray)]
        if arrays and all(a.dtype == np.float16 for a in arrays):
            return _half_gemm(function, host, kwargs)
        return _on_device(function)(*args, **kwargs)

    call.__name__ = function.__name__
    return call


def _half_gemm(function, host, kwargs):
    out = kwargs.pop("out", None)
    widened = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in host]
    with np.errstate(all="ignore"):  # past 65504 is infinity, as on the GPU
        result = function(*widened, **_host(kwargs)).astype(np.float16)
    Launches.seen("matmul", result, (), {})
    if out is None:
        return ndarray(result)
    out[...] = result
    return out


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift"):
    _function = getattr(operator, _name + "_" if _name in ("and", "or") else _name)
    _wrap = _gemm if _name == "matmul" else None
    setattr(ndarray, f"__{_name}__", _operator(_function, _wrap))
    setattr(ndarray, f"__r{_name}__", _reflected(_function, _wrap))
    setattr(ndarray, f"__i{_name}__", _operator(getattr(operator, f"i{_name}")))
_IN_PLACE = {f"i{name}" for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                      "matmul", "and", "or", "xor", "lshift", "rshift")}
for _name in ("eq", "ne", "lt", "le", "gt", "ge", "neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _operator(getattr(operator, _name)))


# -- the module ------------------------------------------------------------------------------
class _Ufunc:
    """A NumPy ufunc on device arrays, with its methods (``add.at``, ``maximum.reduce``)."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _on_device(self._ufunc)(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        return _on_device(value) if callable(value) else value


def asarray(a, dtype=None, order=None):
    """A device array of ``a``; host data is copied over, a device array is kept."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K"):
    data = a._data if isinstance(a, ndarray) else a
    return ndarray(np.array(data, dtype=dtype, copy=copy, order=order))


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*arrays):
    return module if any(isinstance(a, ndarray) for a in arrays) else np


class _Device:
    id = 0
    compute_capability = "90"  # as CuPy's: a string, major and minor digits (an H200's here)

    def __init__(self, device_id=0):
        self.id = device_id

    def synchronize(self):
        pass


class _FakeCupy(types.ModuleType):
    """``cupy`` as far as minidl uses it; every other public name comes from NumPy, wrapped."""

    def __getattr__(self, name):
        _require(name, MODULE_NAMES, "cupy")
        value = getattr(np, name)
        if isinstance(value, np.ufunc):
            return _Ufunc(value)
        if isinstance(value, types.ModuleType):
            raise AttributeError(f"fake_cupy does not provide cupy.{name}")
        if callable(value) and not isinstance(value, type):  # not dtypes such as float32
            if name in _STATIC_ARGUMENTS:
                return _with_static(_on_device(value), _STATIC_ARGUMENTS[name])
            return _on_device(value)
        return value


module = _FakeCupy("fake_cupy", __doc__)
module.ndarray = ndarray
module.asarray, module.array, module.asnumpy = asarray, array, asnumpy
module.get_array_module = get_array_module
module.cuda = types.SimpleNamespace(is_available=lambda: True, Device=_Device)
for _name in ("matmul", "dot", "tensordot", "einsum", "inner"):
    setattr(module, _name, _gemm(getattr(np, _name)))
module._core = types.SimpleNamespace(_routines_linalg=types.SimpleNamespace(
    COMPUTE_TYPE_TBD=COMPUTE_TYPE_TBD, COMPUTE_TYPE_DEFAULT=COMPUTE_TYPE_DEFAULT,
    COMPUTE_TYPE_TF32=COMPUTE_TYPE_TF32, get_compute_type=_get_compute_type,
    set_compute_type=_set_compute_type))
module.lib = types.SimpleNamespace(
    stride_tricks=types.SimpleNamespace(as_strided=_on_device(np.lib.stride_tricks.as_strided)))
