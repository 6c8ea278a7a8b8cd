"""A Keras file -> its model configuration, training configuration and weights (no Keras, no
TensorFlow: h5py, json and zipfile).

Three kinds of file (reference/modern-cnns.md §3):

* a legacy full model (``model.save("m.h5")``): root attributes ``model_config`` and, when the
  model was compiled, ``training_config`` (JSON strings); weights under ``model_weights``;
* a Keras 3 ``.keras`` zip: ``config.json`` (the model, its ``compile_config`` when compiled)
  and ``model.weights.h5`` (Keras 3's own layout), opened inside the zip without extracting;
* a model JSON (``model.to_json()``) with a weights-only h5 (legacy layout at the root, or a
  Keras 3 ``.weights.h5``).

``KerasFile.weights`` is ``{layer key: [(weight name or None, array)]}`` (``minidl.modelimport
.keras.h5``): names in legacy files, positions in Keras 3 ones.
"""

import dataclasses
import io
import json
import struct
import zipfile
from pathlib import Path

from minidl.modelimport.keras import h5
from minidl.modelimport.keras.errors import InvalidKerasConfigurationException

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclasses.dataclass
class KerasFile:
    """What one Keras model file (or JSON + weights pair) holds, decoded."""

    path: str
    model_config: dict
    training_config: dict = None  # the compiled loss and optimizer; None if never compiled
    keras_version: str = None
    weights: dict = dataclasses.field(default_factory=dict)

    @property
    def keras_major(self):
        """2 or 3: the writer's major version, from the file or from its config dialect."""
        if self.keras_version:
            return int(str(self.keras_version).split(".")[0] or 2)
        return 3 if "module" in self.model_config else 2


def _signature(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Keras model file")
    with open(path, "rb") as f:
        return f.read(8)


def _json(value, what, path):
    try:
        return json.loads(h5.text(value))
    except ValueError as error:
        raise InvalidKerasConfigurationException(f"{path}: its {what} is not JSON ({error})") \
            from None


def read_model_file(path):
    """The ``KerasFile`` of a legacy ``.h5`` full model or a Keras 3 ``.keras`` zip."""
    head = _signature(path)
    if head == _HDF5_SIGNATURE:
        return _read_h5_model(path)
    if head[:2] == b"PK":
        return _read_keras_zip(path)
    raise InvalidKerasConfigurationException(
        f"{path}: not a Keras model file: expected an HDF5 file (model.save('m.h5')) or a "
        f".keras zip, found the bytes {head!r}")


def _read_h5_model(path):
    h5py = h5.h5py_module()
    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise InvalidKerasConfigurationException(
                    f"{path}: an HDF5 file without a 'model_config' attribute: weights only "
                    f"(found attributes {sorted(f.attrs)}, groups {sorted(f.keys())[:6]}); "
                    f"import it with its model JSON: import_keras_model_and_weights(json, h5)")
            training = f.attrs.get("training_config")
            return KerasFile(
                str(path), _json(f.attrs["model_config"], "model_config", path),
                _json(training, "training_config", path) if training is not None else None,
                h5.text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None,
                h5.read_legacy(h5.legacy_root(f)))
    except (OSError, KeyError) as error:
        raise InvalidKerasConfigurationException(
            f"{path}: cannot read the Keras HDF5 model ({error}); the file may be truncated") \
            from error


def _read_keras_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "config.json" not in names or "model.weights.h5" not in names:
                raise InvalidKerasConfigurationException(
                    f"{path}: a zip without config.json and model.weights.h5, so not a Keras 3 "
                    f".keras file (found {names[:6]})")
            config = _json(archive.read("config.json"), "config.json", path)
            metadata = (_json(archive.read("metadata.json"), "metadata.json", path)
                        if "metadata.json" in names else {})
            with _member(archive, path, "model.weights.h5") as stream:
                weights = _read_keras3_stream(stream, path, config)
    except zipfile.BadZipFile as error:
        raise InvalidKerasConfigurationException(f"{path}: a damaged .keras zip ({error})") \
            from None
    training = config.get("compile_config") or None
    return KerasFile(str(path), config, training, metadata.get("keras_version", "3"), weights)


class _StoredMember(io.RawIOBase):
    """A zip member stored uncompressed (as Keras writes them), read in place from the zip:
    h5py seeks all over a weights file, which a ZipExtFile can only do by reading again from
    the member's start."""

    def __init__(self, path, offset, size):
        super().__init__()
        self._file, self._start, self._size, self._pos = open(path, "rb"), offset, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        self._file.seek(self._start + self._pos)
        got = self._file.readinto(memoryview(buffer)[:n])
        self._pos += got
        return got

    def close(self):
        self._file.close()
        super().close()


def _member(archive, path, name):
    """A seekable stream of member ``name``: in place when stored, else the zip's own."""
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        return archive.open(name)
    with open(path, "rb") as f:  # the local header: 30 bytes, then the name and extra field
        f.seek(info.header_offset)
        header = f.read(30)
    if header[:4] != b"PK\x03\x04":
        raise InvalidKerasConfigurationException(f"{path}: a damaged .keras zip (entry {name})")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return _StoredMember(path, info.header_offset + 30 + name_length + extra_length,
                         info.file_size)


def _read_keras3_stream(stream, path, config):
    h5py = h5.h5py_module()
    try:
        with h5py.File(stream, "r") as f:
            return h5.read_keras3(f, path, config)
    except OSError as error:
        raise InvalidKerasConfigurationException(
            f"{path}: cannot read model.weights.h5 ({error})") from error


def read_json_and_weights(json_path, weights_path):
    """The ``KerasFile`` of a model JSON (``model.to_json()``) and a weights-only h5."""
    try:
        config = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_path}: no such Keras model JSON") from None
    except ValueError as error:
        raise InvalidKerasConfigurationException(
            f"{json_path}: not a Keras model JSON ({error})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise InvalidKerasConfigurationException(
            f"{json_path}: not a Keras model JSON: no 'class_name' at its top level")
    if _signature(weights_path) != _HDF5_SIGNATURE:
        raise InvalidKerasConfigurationException(f"{weights_path}: not an HDF5 weights file")
    h5py = h5.h5py_module()
    try:
        with h5py.File(weights_path, "r") as f:
            weights = (h5.read_keras3(f, weights_path, config) if "layers" in f and "vars" in f
                       else h5.read_legacy(h5.legacy_root(f)))
            version = h5.text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None
    except (OSError, KeyError) as error:
        raise InvalidKerasConfigurationException(
            f"{weights_path}: cannot read the Keras weights ({error})") from error
    return KerasFile(str(json_path), config, None, config.get("keras_version", version), weights)
