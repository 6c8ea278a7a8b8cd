"""The model zip, written and read for a network class it is given (``ModelSerializer``'s engine).

The networks' own ``save`` and ``load`` use these functions directly; ``minidl.nn.serializer``
puts DL4J's ``ModelSerializer`` front on them, which knows both network classes. Keeping the
file format below the classes is what lets the networks save themselves without an import cycle.
The entries of the zip are described in ``minidl.nn.serializer``.
"""


import io
import json
import zipfile
import zlib

import numpy as np

from minidl._version import __version__
from minidl.backend import to_cpu, to_device
from minidl.data.normalizers import DataNormalization
from minidl.io.atomic import atomic_write
from minidl.io.npz import read_npz

FORMAT_VERSION = 1
CONFIGURATION = "configuration.json"
COEFFICIENTS = "coefficients.npz"
UPDATER_STATE = "updaterState.npz"
META = "meta.json"
NORMALIZER = "normalizer.json"
NORMALIZER_ARRAYS = "normalizer.npz"



def write_model(net, path, save_updater=True, normalizer=None):
    """Save ``net`` (initialised) to the zip ``path`` (a file name, written atomically, or a
    binary file object), with the input ``normalizer`` (a DataNormalization, fitted) it was
    trained with when given."""
    net._require_init()
    entries = {
        CONFIGURATION: net.conf.to_json().encode("utf-8"),
        COEFFICIENTS: _npz_bytes({k: to_cpu(a) for k, a in net.param_table().items()}),
        META: json.dumps(_meta(net), indent=2, sort_keys=True).encode("utf-8"),
    }
    if save_updater:
        entries[UPDATER_STATE] = _npz_bytes(_flat_updater_state(net.updater_state))
    if normalizer is not None:
        entries.update(_normalizer_entries(normalizer))
    _write_zip(path, entries.items())


def add_normalizer_to_model(path, normalizer):
    """Add ``normalizer`` to the model zip ``path``, replacing any saved before; every other
    entry is kept byte for byte. The zip is rewritten atomically."""
    if _is_file_object(path):
        raise TypeError("ModelSerializer.add_normalizer_to_model rewrites a model file, so it "
                        "needs a file name, not a file object")
    new_entries = _normalizer_entries(normalizer)  # refuses an unfitted one before any write
    with _open_zip(path) as zf:
        _read(zf, path, META)  # a model file, not any zip
        kept = [(info, _read(zf, path, info.filename)) for info in zf.infolist()
                if info.filename not in (NORMALIZER, NORMALIZER_ARRAYS)]
    _write_zip(path, kept + list(new_entries.items()))


def restore_normalizer_from_file(path):
    """The normalizer saved in the model zip ``path``, or None when it holds none."""
    path = _seekable(path)
    with _open_zip(path) as zf:
        if NORMALIZER not in zf.namelist():
            return None
        settings = _read_json(zf, path, NORMALIZER)
        has_arrays = NORMALIZER_ARRAYS in zf.namelist()
        arrays = _read_npz(zf, path, NORMALIZER_ARRAYS) if has_arrays else {}
    try:
        return DataNormalization.from_state(settings, arrays)
    except ValueError as e:
        raise ValueError(f"{_describe(path)}: entries {NORMALIZER!r} / "
                         f"{NORMALIZER_ARRAYS!r} do not describe a normalizer: {e}") from e


def restore(path, network_class, load_updater=True):
    """The ``network_class`` network saved in ``path`` (with its updater state when
    ``load_updater``)."""
    return _restore(path, network_class, load_updater)


def saved_network_type(path):
    """The class name meta.json records (``"MultiLayerNetwork"`` or ``"ComputationGraph"``)."""
    with _open_zip(path) as zf:
        return _read_json(zf, path, META).get("network_type")


# -- writing ------------------------------------------------------------------------------------

def _write_zip(path, entries):
    """Write ``entries`` ((name or ZipInfo, bytes) pairs) as the zip ``path``: a file name is
    written atomically, a file object as it is."""
    if _is_file_object(path):
        _write_entries(path, entries)
        return
    with atomic_write(path) as f:
        _write_entries(f, entries)


def _write_entries(f, entries):
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)


def _normalizer_entries(normalizer):
    """{entry name: bytes} for ``normalizer``: its settings as JSON, its arrays (if any) as npz."""
    if not isinstance(normalizer, DataNormalization):
        raise TypeError(f"ModelSerializer: a normalizer must be a DataNormalization "
                        f"(NormalizerStandardize, ImagePreProcessingScaler, ...), got "
                        f"{type(normalizer).__name__}")
    settings, arrays = normalizer.state()
    entries = {NORMALIZER: json.dumps(settings, indent=2, sort_keys=True).encode("utf-8")}
    if arrays:
        entries[NORMALIZER_ARRAYS] = _npz_bytes(arrays)
    return entries


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _flat_updater_state(updater_state):
    """{(layer, param): {state name: array}} -> {"<layer>_<param>/<state name>": array} on the
    CPU: the file names parameters as DL4J does."""
    from minidl.nn.parameters import flat_key
    return {f"{flat_key(*key)}/{name}": to_cpu(array)
            for key, state in updater_state.items() for name, array in state.items()}


def _meta(net):
    rng = net._rng.bit_generator.state if net._rng is not None else None
    return {"format_version": FORMAT_VERSION, "network_type": type(net).__name__,
            "iteration_count": net.iteration_count, "epoch_count": net.epoch_count,
            "dropout_rng_state": rng, "minidl_version": __version__}


# -- reading ------------------------------------------------------------------------------------

def _is_file_object(path):
    return hasattr(path, "read") or hasattr(path, "write")


def _describe(path):
    """How errors name the model: its file name, or "the model file object"."""
    return "the model file object" if _is_file_object(path) else f"model file {str(path)!r}"


def _seekable(path):
    """``path`` as it is, unless it is a file object zipfile cannot seek in: then its bytes, in
    memory (DL4J copies such an InputStream to a temporary file)."""
    if hasattr(path, "read") and not (hasattr(path, "seekable") and path.seekable()):
        return io.BytesIO(path.read())
    return path


def _restore(path, network_class, load_updater):
    path = _seekable(path)
    with _open_zip(path) as zf:
        meta = _read_json(zf, path, META)
        _check_meta(meta, path, network_class)
        conf_class = _configuration_class(network_class)
        try:
            conf = conf_class.from_json(_read(zf, path, CONFIGURATION).decode("utf-8"))
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{_describe(path)}: {CONFIGURATION} is not a valid "
                             f"{conf_class.__name__}: {e}") from e
        coefficients = _read_npz(zf, path, COEFFICIENTS)
        has_updater = UPDATER_STATE in zf.namelist()
        state = _read_npz(zf, path, UPDATER_STATE) if load_updater and has_updater else {}
    net = _network_from_coefficients(network_class(conf), coefficients, path)
    net.updater_state = _nested_updater_state(net, state, path)
    net.iteration_count = int(meta.get("iteration_count", 0))
    net.epoch_count = int(meta.get("epoch_count", 0))
    if meta.get("dropout_rng_state") is not None:
        net._rng.bit_generator.state = meta["dropout_rng_state"]
    return net


def _open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{_describe(path)} does not exist") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{_describe(path)} is not a readable zip (corrupt or "
                         f"truncated?): {e}") from e


def _read(zf, path, entry):
    if entry not in zf.namelist():
        raise ValueError(f"{_describe(path)} has no {entry!r} entry (entries: "
                         f"{zf.namelist()}); was it written by ModelSerializer?")
    try:
        return zf.read(entry)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise ValueError(f"{_describe(path)}: entry {entry!r} is corrupt: {e}") from e


def _read_json(zf, path, entry):
    try:
        data = json.loads(_read(zf, path, entry).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{_describe(path)}: entry {entry!r} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{_describe(path)}: entry {entry!r} should hold a JSON object")
    return data


def _read_npz(zf, path, entry):
    return read_npz(_read(zf, path, entry), f"{_describe(path)}: entry {entry!r}")


def _check_meta(meta, path, network_class):
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{_describe(path)}: format version {version!r}, this minidl "
                         f"reads version {FORMAT_VERSION}")
    saved = meta.get("network_type")
    if saved != network_class.__name__:
        other = "restore_computation_graph" if saved == "ComputationGraph" else \
            "restore_multi_layer_network"
        raise ValueError(f"{_describe(path)} holds a {saved}, not a "
                         f"{network_class.__name__}; use ModelSerializer.{other}")


def _configuration_class(network_class):
    return network_class.configuration_class


def _network_from_coefficients(net, coefficients, path):
    """``net`` with its parameters made from the saved arrays (no random initialisation)."""
    tables, extra = net.tables_from_flat(coefficients)
    try:
        if extra:
            raise ValueError(f"unexpected parameters {extra}")
        return net.init_from_tables(tables)
    except ValueError as e:
        raise ValueError(f"{_describe(path)}: {COEFFICIENTS} does not match the "
                         f"configuration: {e}") from e


def _nested_updater_state(net, flat, path):
    """{"<layer>_<param>/<state name>": array} -> {(layer, param): {state name: array}} on the
    device."""
    from minidl.nn.parameters import flat_key
    params = {flat_key(key, param): (key, param, t.data) for key, param, t in net.param_items()}
    state = {}
    for entry, array in flat.items():
        name, _, state_name = entry.rpartition("/")  # state names (M, V, v) have no "/"
        if name not in params or array.shape != params[name][2].shape:
            raise ValueError(f"{_describe(path)}: updater state {entry!r} does not "
                             f"match any parameter of the configuration")
        key, param, value = params[name]
        state.setdefault((key, param), {})[state_name] = to_device(
            array.astype(value.dtype, copy=False))
    return state
