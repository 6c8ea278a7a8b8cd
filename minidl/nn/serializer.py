"""ModelSerializer: a trained network in one zip file, and back (DL4J's ``ModelSerializer``).

The zip holds four entries, and two more when a normalizer was saved with the model:

=====================  ============================================================================
``configuration.json``  the full configuration (``conf.to_json()``): layers, vertices, frozen
                        wrappers, preprocessors, updaters, seed and data type
``coefficients.npz``    every parameter by key (``"0_W"``, ``"fc2_b"``), as plain arrays
``updaterState.npz``    the updater's state per parameter, keyed ``"<param key>/<state name>"``
                        (``"0_W/M"`` for Adam's first moment); only when the updater was saved
``meta.json``           format version, network type, iteration and epoch counts, the dropout
                        generator's state and the minidl version
``normalizer.json``     the input normalizer the model was trained with (``normalizer.state()``'s
                        settings: its ``"type"`` and scalar fields); only when one was saved
``normalizer.npz``      that normalizer's statistics (NormalizerStandardize's ``mean``, ``std``,
                        ``label_mean``, ``label_std``); only when it has some
=====================  ============================================================================

DL4J keeps the normalizer in the model zip too (its ``normalizer.bin``), so that whoever uses the
model later feeds it data normalized the same way.

Arrays are stored with ``np.savez`` and read with ``allow_pickle=False``, so opening a model file
never runs code from it. The file is written to a temporary file beside the target and renamed
over it, so a crash mid-write leaves the previous model intact.

Like DL4J's ``writeModel(model, OutputStream, ...)`` and ``restore*(InputStream)``, every method
that takes a file name also takes a binary file object (``io.BytesIO``, an open file): the zip
is written to or read from it as it is, and it is left open. (``add_normalizer_to_model``
rewrites a file, so it takes a file name only, as DL4J's.)
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
from minidl.naming import Dl4jNames
from minidl.nn.conf.configuration import ComputationGraphConfiguration, MultiLayerConfiguration

FORMAT_VERSION = 1
CONFIGURATION = "configuration.json"
COEFFICIENTS = "coefficients.npz"
UPDATER_STATE = "updaterState.npz"
META = "meta.json"
NORMALIZER = "normalizer.json"
NORMALIZER_ARRAYS = "normalizer.npz"


class ModelSerializer(Dl4jNames):
    """Writes and restores MultiLayerNetwork / ComputationGraph zips (static methods only).

    >>> ModelSerializer.write_model(net, "model.zip", save_updater=True)
    >>> net = ModelSerializer.restore_multi_layer_network("model.zip")
    """

    @staticmethod
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

    @staticmethod
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

    @staticmethod
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

    @staticmethod
    def restore_multi_layer_network(path, load_updater=True):
        """The MultiLayerNetwork saved in ``path`` (with its updater state when ``load_updater``)."""
        from minidl.nn.multilayer import MultiLayerNetwork
        return _restore(path, MultiLayerNetwork, load_updater)

    @staticmethod
    def restore_computation_graph(path, load_updater=True):
        """The ComputationGraph saved in ``path`` (with its updater state when ``load_updater``)."""
        from minidl.nn.graph import ComputationGraph
        return _restore(path, ComputationGraph, load_updater)

    @staticmethod
    def restore_model(path, load_updater=True):
        """Whichever network ``path`` holds (its meta.json says), like DL4J's ModelGuesser."""
        from minidl.nn.graph import ComputationGraph
        from minidl.nn.multilayer import MultiLayerNetwork
        path = _seekable(path)
        with _open_zip(path) as zf:
            saved = _read_json(zf, path, META).get("network_type")
        network_class = MultiLayerNetwork if saved == "MultiLayerNetwork" else ComputationGraph
        return _restore(path, network_class, load_updater)

    @staticmethod
    def restore_multi_layer_network_and_normalizer(path, load_updater=True):
        """``(network, normalizer)`` from ``path``: its MultiLayerNetwork and its normalizer
        (None when none was saved)."""
        return _with_normalizer(ModelSerializer.restore_multi_layer_network, path, load_updater)

    @staticmethod
    def restore_computation_graph_and_normalizer(path, load_updater=True):
        """``(network, normalizer)`` from ``path``: its ComputationGraph and its normalizer
        (None when none was saved)."""
        return _with_normalizer(ModelSerializer.restore_computation_graph, path, load_updater)


def _with_normalizer(restore, path, load_updater):
    path = _seekable(path)  # read twice
    return restore(path, load_updater), ModelSerializer.restore_normalizer_from_file(path)


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
    """{param key: {state name: array}} -> {"<param key>/<state name>": array} on the CPU."""
    return {f"{key}/{name}": to_cpu(array)
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
    data = _read(zf, path, entry)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{_describe(path)}: entry {entry!r} is not a valid .npz of "
                         f"plain arrays: {e}") from e


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
    return MultiLayerConfiguration if network_class.__name__ == "MultiLayerNetwork" else \
        ComputationGraphConfiguration


def _network_from_coefficients(net, coefficients, path):
    """``net`` with its parameters made from the saved arrays (no random initialisation)."""
    tables = {}
    for key, value in coefficients.items():
        layer, _, param = key.rpartition("_")  # parameter names (W, b, gamma, ...) have no "_"
        tables.setdefault(layer, {})[param] = value
    expected = {f"{k}_{p}" for k, layer in net.layer_items() for p in layer.param_shapes()}
    extra = sorted(set(coefficients) - expected)
    try:
        if extra:
            raise ValueError(f"unexpected parameters {extra}")
        return net.init_from_tables(tables)
    except ValueError as e:
        raise ValueError(f"{_describe(path)}: {COEFFICIENTS} does not match the "
                         f"configuration: {e}") from e


def _nested_updater_state(net, flat, path):
    """{"<param key>/<state name>": array} -> {param key: {state name: array}} on the device."""
    params = net.param_table()
    state = {}
    for flat_key, array in flat.items():
        key, _, name = flat_key.rpartition("/")
        if key not in params or array.shape != params[key].shape:
            raise ValueError(f"{_describe(path)}: updater state {flat_key!r} does not "
                             f"match any parameter of the configuration")
        state.setdefault(key, {})[name] = to_device(array.astype(params[key].dtype, copy=False))
    return state
