"""Read a PyTorch ``state_dict`` file (``.pth``) into NumPy arrays without PyTorch.

Two layouts exist (reference/vgg16-weights.md §5.4):

* zip (torch >= 1.6): ``<prefix>/data.pkl`` is the pickle, ``<prefix>/data/<key>`` the raw bytes
  of each storage;
* legacy (what ``vgg16-397923af.pth`` is): a stream of pickles (magic number, protocol version,
  system info, the object, the list of storage keys), then for each key an int64 element count
  and the raw bytes.

A pickle can name any Python callable and call it while loading, so an untrusted ``.pth`` could
run ``os.system``. ``_RestrictedUnpickler`` resolves only the few globals a state_dict needs
(``collections.OrderedDict``, torch's tensor-rebuild helpers, the ``*Storage`` type tags), each
mapped to a harmless stand-in here, and refuses every other name before anything is called.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from zoo.formats import WeightFileError

_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only carries the dtype."""

    def __init__(self, dtype):
        self.dtype = dtype


class _StorageRef:
    """A storage named in the pickle; its bytes are read after unpickling."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    """A tensor the pickle rebuilds: a strided view of a storage, materialised later."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path = path
        self.storages = {}  # key -> _StorageRef

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightFileError(
                f"{self.path}: refusing to load: its pickle names {module}.{name}, which is not "
                f"part of a tensor state_dict (a malicious or non-weight file?); nothing was run"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise WeightFileError(f"{self.path}: unexpected persistent id {pid!r} in the pickle")
        _, storage_type, key, _location, numel = pid[:5]
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, storage_type.dtype, int(numel))
        return self.storages[key]


def read_state_dict(path):
    """The tensors of a ``.pth`` state_dict as an ``OrderedDict`` name -> NumPy array."""
    try:
        if zipfile.is_zipfile(path):
            obj, raw = _load_zip(path)
        else:
            obj, raw = _load_legacy(path)
        return _materialise(obj, raw, path)
    except WeightFileError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, KeyError, ValueError, struct.error,
            zipfile.BadZipFile) as error:
        raise WeightFileError(f"{path}: cannot read PyTorch weights ({type(error).__name__}: "
                              f"{error}); the file may be truncated or not a .pth") from error


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise WeightFileError(f"{path}: a zip but not a torch file (no single data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in archive.namelist():
            byteorder = archive.read(prefix + "byteorder").decode().strip()
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        obj = unpickler.load()
        raw = {key: _from_bytes(archive.read(f"{prefix}data/{key}"), ref.dtype, byteorder)
               for key, ref in unpickler.storages.items()}
    return obj, raw


def _load_legacy(path):
    with open(path, "rb") as f:
        if f.read(2)[:1] != b"\x80":
            raise WeightFileError(f"{path}: neither a zip nor a legacy torch pickle stream")
        f.seek(0)
        unpickler = _RestrictedUnpickler(f, path)
        header = [unpickler.load() for _ in range(3)]  # magic, protocol version, sys info
        if header[0] != 0x1950A86A20F9469CFC6C:
            raise WeightFileError(f"{path}: legacy torch magic number missing")
        little_endian = header[2].get("little_endian", True) if isinstance(header[2], dict) else True
        obj = unpickler.load()
        keys = unpickler.load()
        raw = {}
        for key in keys:
            ref = unpickler.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            itemsize = 2 if ref.dtype == "bfloat16" else np.dtype(ref.dtype).itemsize
            data = f.read(numel * itemsize)
            if len(data) != numel * itemsize:
                raise EOFError(f"storage {key}: {len(data)} of {numel * itemsize} bytes")
            raw[str(key)] = _from_bytes(data, ref.dtype, "little" if little_endian else "big")
    return obj, raw


def _from_bytes(data, dtype, byteorder):
    if dtype == "bfloat16":  # no NumPy dtype: the top 16 bits of a float32
        halves = np.frombuffer(data, np.dtype("<u2" if byteorder == "little" else ">u2"))
        return (halves.astype(np.uint32) << 16).view(np.float32)
    dt = np.dtype(dtype)
    if byteorder == "big":
        dt = dt.newbyteorder(">")
    return np.frombuffer(data, dt).astype(dt.newbyteorder("="), copy=False)


def _materialise(obj, raw, path):
    """Replace every _TensorRef in the unpickled object by its array."""
    if isinstance(obj, _TensorRef):
        return _tensor(obj, raw, path)
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _materialise(v, raw, path)) for k, v in obj.items())
    return obj


def _tensor(ref, raw, path):
    flat = raw[ref.storage.key]
    extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) + 1
    if 0 in ref.size:
        return np.zeros(ref.size, flat.dtype)
    if extent > flat.size:
        raise WeightFileError(f"{path}: a tensor of shape {ref.size} needs {extent} elements of "
                              f"storage {ref.storage.key}, which has {flat.size} (truncated file?)")
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=ref.size,
                                           strides=[s * itemsize for s in ref.stride])
    return np.array(view)  # a contiguous copy that owns its memory
