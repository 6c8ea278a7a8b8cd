"""Featurized datasets on disk: run the frozen part once over a whole dataset, keep the result.

``featurize_to_disk(helper, iterator, directory)`` pushes every batch of ``iterator`` through the
frozen part of ``helper``'s network and writes one numbered shard per batch
(``shard-00000.npz``: features and labels, no pickle) plus ``manifest.json`` describing them:
which model and boundary produced them, the pre-processor (normalizer) the images went through,
per-example shapes, label names and the shards written. Only one batch is in memory at a time,
however large the dataset.

Every file is written to a temporary name and renamed into place, and the manifest is rewritten
after each shard, so an interrupted run leaves only complete shards behind; running it again
with the same model and boundary skips the shards that exist and finishes the rest.

``FeaturizedDataSetIterator(directory)`` then reads the shards back as DataSets, for
``helper.fit_featurized`` or any network whose input is the boundary activation; its
``source_pre_processor()`` gives back the images' normalizer, which inference needs too.

The manifest keeps that normalizer as ``"pre_processor": {"settings": ..., "arrays": ...}``
(``DataNormalization.state()``, arrays as nested lists: a few numbers per channel at most), or
null when the images had none.
"""

import functools
import hashlib
import json
import os
import warnings
import zipfile

import numpy as np

from minidl.backend import to_cpu
from minidl.data.dataset import DataSet, MultiDataSet, as_list
from minidl.data.iterators import DataSetIterator, reset_if_supported
from minidl.data.normalizers import DataNormalization
from minidl.io import atomic_write
from minidl.io.npz import write_npz
from minidl.nn.precision import activation_dtype

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def fingerprint(helper):
    """A hash of the frozen parameters and the boundary: features depend on nothing else."""
    digest = hashlib.sha256()
    network = helper.network
    for key, layer in network.layer_items():
        if layer.frozen:
            for name, tensor in sorted(network.param_tables[key].items()):
                digest.update(f"{key}_{name}".encode())
                digest.update(np.ascontiguousarray(to_cpu(tensor.data)).tobytes())
    digest.update(json.dumps(boundary_of(helper)).encode())
    return digest.hexdigest()


def boundary_of(helper):
    """The names of the activations the features are (a graph's vertices, a MultiLayerNetwork's
    last frozen layer by its name)."""
    return helper.boundary_names()


def _shard_name(index):
    return f"shard-{index:05d}.npz"


def _read_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"featurized dataset {directory}: unreadable {MANIFEST} ({e}); delete "
                         f"the folder to start again") from None


def _write_manifest(directory, manifest):
    with atomic_write(os.path.join(directory, MANIFEST)) as f:
        f.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))


def _save_shard(path, featurized):
    """Write one featurized batch as ``features_i`` / ``labels_i`` arrays; return both lists."""
    features, labels = as_list(featurized.features), as_list(featurized.labels)
    arrays = {f"features_{i}": to_cpu(a) for i, a in enumerate(features)}
    arrays.update({f"labels_{i}": to_cpu(a) for i, a in enumerate(labels)})
    write_npz(path, arrays)
    return features, labels


class FeaturesMismatchError(ValueError):
    """A featurized folder holds features of another model, boundary or pre-processor."""

    def __init__(self, directory, reason):
        super().__init__(f"featurized dataset {directory} was made by {reason}; pass "
                         f"overwrite=True or use another folder")
        self.directory, self.reason = directory, reason


def featurize_to_disk(helper, iterator, directory, *, data=None, progress=True, overwrite=False,
                      client=None, precision="fp32"):
    """Featurize every batch of ``iterator`` into shards under ``directory``; return the manifest.

    Resumes an interrupted run of the same model and boundary. A folder holding features of a
    different model, boundary or pre-processor is refused unless ``overwrite``. The manifest
    records the iterator's pre-processor (see ``FeaturizedDataSetIterator.source_pre_processor``).

    ``data`` (optional, anything JSON can hold) says which data the iterator reads, e.g. its
    folder, split seed and batch size. The iterator itself cannot tell, so without it a folder
    featurized from other images would be resumed or reused as if it were this data; with it,
    such a folder is refused like one from another model.

    ``progress``: show a bar (True), none (False), or a caller's tqdm bar to advance by one per
    shard (the ``minidl transfer`` command's single bar).

    ``client`` (a ``dask.distributed.Client``) featurizes on its workers instead
    (``transfer.featurized_dask``): same shards, manifest and fingerprint. ``directory`` must be
    a folder every worker sees; that is checked first, before any work.

    ``precision="fp16"`` runs the frozen part in half precision on the GPU
    (``minidl.nn.precision``); the shards are float32 either way, and the manifest records the
    precision: a folder featurized in the other one is refused like one from another model.
    """
    activation_dtype(precision, helper.network.device)  # a bad precision fails before any work
    os.makedirs(directory, exist_ok=True)
    if client is not None:
        from transfer.featurized_dask import check_cluster
        check_cluster(client, helper, directory)
    manifest = _open_manifest(helper, iterator, directory, data, overwrite, precision)
    if not manifest.get("complete"):
        task = functools.partial(_featurize_and_save, precision=precision)
        _write_shards(helper, iterator, directory, manifest, progress, task, client)
        manifest["shards"].sort(key=lambda s: s["file"])
        manifest["num_examples"] = sum(s["examples"] for s in manifest["shards"])
        manifest["complete"] = True
        _write_manifest(directory, manifest)
    return manifest


def _open_manifest(helper, iterator, directory, data, overwrite, precision="fp32"):
    """The folder's manifest to continue (same model, boundary, pre-processor, data, decoding
    and precision), or a new one."""
    source, pre_processor = fingerprint(helper), _pre_processor_record(iterator)
    data = json.loads(json.dumps(data))  # as the manifest will hold it (tuples become lists)
    manifest = _read_manifest(directory)
    decode_mode = getattr(iterator, "decode_mode", None)  # "draft"/"full": pixels differ a little
    if manifest is not None:
        reason = _mismatch(manifest, source, pre_processor, data)
        if not reason and manifest.get("decode_mode", decode_mode) != decode_mode:
            reason = f"images decoded another way ({manifest['decode_mode']!r} decoding)"
        if not reason and manifest.get("precision", "fp32") != precision:  # older: fp32
            reason = f"another precision ({manifest['precision']})"
        if not reason:
            return manifest
        if not overwrite:
            raise FeaturesMismatchError(directory, reason)
    return {"format": FORMAT_VERSION, "fingerprint": source,
            "model": type(helper.network).__name__, "boundary": boundary_of(helper),
            "pre_processor": pre_processor, "data": data, "label_names": _label_names(iterator),
            "decode_mode": decode_mode, "precision": precision,
            "shards": [], "complete": False}


def _write_shards(helper, iterator, directory, manifest, progress, task, client=None):
    """Featurize and save (``task``) every batch the manifest does not list yet, recording each
    one in the manifest as soon as its shard is on disk (so an interrupted run resumes after
    it)."""
    done = {shard["file"] for shard in manifest["shards"]}
    reset_if_supported(iterator)
    bar = _progress(iterator, progress, len(done))
    if client is None:
        shards = _featurize_here(helper, iterator, directory, done, task)
    else:
        from transfer.featurized_dask import featurize_on_cluster
        shards = featurize_on_cluster(client, helper, iterator, directory, done, task,
                                      _shard_name)
    for record in shards:
        manifest["shards"].append({"file": record["file"], "examples": record["examples"]})
        manifest["feature_shapes"] = record["feature_shapes"]
        manifest["label_shapes"] = record["label_shapes"]
        _write_manifest(directory, manifest)
        bar.update(1)
    bar.close()


def _featurize_here(helper, iterator, directory, done, task):
    """The shard records of every batch not ``done``, featurized in this process."""
    for index, batch in enumerate(iterator):
        name = _shard_name(index)
        if name in done:
            continue  # written by an earlier, interrupted run
        yield task(helper, batch, directory, name)


def _featurize_and_save(helper, batch, directory, name, precision="fp32"):
    """Featurize one batch into shard ``name`` (here or on a Dask worker); return its record."""
    features, labels = _save_shard(os.path.join(directory, name),
                                   helper.featurize(batch, precision=precision))
    return {"file": name, "examples": int(features[0].shape[0]),
            "feature_shapes": [list(a.shape[1:]) for a in features],
            "label_shapes": [list(a.shape[1:]) for a in labels]}


def _mismatch(manifest, source, pre_processor, data):
    """Why the folder's shards cannot be continued or reused here (None when they can)."""
    if manifest.get("fingerprint") != source:
        return f"a different model or boundary ({manifest.get('boundary')})"
    # a manifest older than the "pre_processor" key is taken at its word
    if manifest.get("pre_processor", pre_processor) != pre_processor:
        return "a different pre-processor (the images were normalized differently)"
    known = manifest.get("data")  # None on either side: not said, so not compared
    if known is not None and data is not None and known != data:
        return f"other data ({known})"
    return None


def _pre_processor_record(iterator):
    """The iterator's pre-processor as the manifest keeps it: {"settings", "arrays"} (arrays as
    lists, so the record is plain JSON), {"unsaved": class name} for one that is not a
    DataNormalization, or None when the iterator has none."""
    getter = getattr(iterator, "get_pre_processor", None)
    pre_processor = getter() if getter else None
    if pre_processor is None:
        return None
    if not isinstance(pre_processor, DataNormalization):
        warnings.warn(f"featurize_to_disk: the iterator's pre-processor "
                      f"{type(pre_processor).__name__} is not a DataNormalization, so the "
                      f"manifest records only its name")
        return {"unsaved": type(pre_processor).__name__}
    settings, arrays = pre_processor.state()
    return {"settings": settings, "arrays": {name: a.tolist() for name, a in arrays.items()}}


def _label_names(iterator):
    getter = getattr(iterator, "get_labels", None)
    names = getter() if getter else None
    return list(names) if names else None


def _progress(iterator, progress, already):
    """The bar that counts shards: ``progress`` itself when it is a caller's bar (advanced by the
    shards already on disk too, never closed here), else a new one, shown when ``progress``."""
    if not isinstance(progress, bool):
        progress.update(already)
        return _Borrowed(progress)
    from tqdm import tqdm
    try:
        total = len(iterator)
    except TypeError:
        total = None
    return tqdm(total=total, initial=already, desc="featurizing", unit="batch",
                disable=not progress)


class _Borrowed:
    """A caller's progress bar, advanced here and closed by its owner."""

    def __init__(self, bar):
        self.update = bar.update

    def close(self):
        pass


class FeaturizedDataSetIterator(DataSetIterator):
    """Reads a folder written by ``featurize_to_disk`` back, one shard (= one batch) at a time.

    Yields DataSets (MultiDataSets when the boundary has several activations). ``shuffle``
    shuffles the order of shards at each reset, which keeps memory at one shard.
    """

    def __init__(self, directory, shuffle=False, seed=None):
        manifest = _read_manifest(directory)
        if manifest is None:
            raise FileNotFoundError(f"no featurized dataset in {directory} (missing {MANIFEST}); "
                                    f"write one with featurize_to_disk")
        if not manifest.get("complete"):
            raise ValueError(f"featurized dataset {directory} is incomplete (an interrupted run?): "
                             f"run featurize_to_disk again to finish it")
        super().__init__(labels=manifest.get("label_names"))
        self.directory = directory
        self.manifest = manifest
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self):
        """Start again from the first shard (reshuffled with ``shuffle``)."""
        files = [s["file"] for s in self.manifest["shards"]]
        self._files = [files[i] for i in self._rng.permutation(len(files))] if self.shuffle \
            else files
        self._cursor = 0
        self._started = False

    def has_next(self):
        """Whether a shard remains in this epoch."""
        return self._cursor < len(self._files)

    def _next_batch(self, num=None):
        path = os.path.join(self.directory, self._files[self._cursor])
        self._cursor += 1
        try:
            with np.load(path, allow_pickle=False) as data:
                features = [data[f"features_{i}"] for i in range(len(self.manifest["feature_shapes"]))]
                labels = [data[f"labels_{i}"] for i in range(len(self.manifest["label_shapes"]))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"featurized shard {path} is unreadable ({e}); delete it and run "
                             f"featurize_to_disk again to rewrite it") from None
        if len(features) == 1 and len(labels) == 1:
            return DataSet(features[0], labels[0])
        return MultiDataSet(features, labels)

    def __len__(self):
        return len(self.manifest["shards"])

    def batch(self):
        """Examples in the first shard (the batch size it was written with)."""
        return self.manifest["shards"][0]["examples"] if self.manifest["shards"] else 0

    def source_pre_processor(self):
        """The normalizer the images went through before the frozen part (None if they had
        none); a model trained on these features needs the same one at inference.

        It is not applied to the features read here: they are already past it. (A pre-processor
        set on this iterator with ``set_pre_processor`` would normalize the features themselves.)
        """
        record = self.manifest.get("pre_processor")  # absent in manifests older than this key
        if record is None:
            return None
        if "unsaved" in record:
            raise ValueError(f"featurized dataset {self.directory}: the images went through a "
                             f"{record['unsaved']}, which the manifest could not record; apply "
                             f"the same one at inference yourself")
        try:
            return DataNormalization.from_state(record["settings"], record["arrays"])
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"featurized dataset {self.directory}: the pre-processor in "
                             f"{MANIFEST} is damaged ({e!r})") from None

    def total_examples(self):
        """Examples in all shards."""
        return self.manifest.get("num_examples", 0)

    def input_columns(self):
        """Features per example (flattened)."""
        return int(np.prod(self.manifest["feature_shapes"][0]))

    def total_outcomes(self):
        """Label columns per example."""
        return int(np.prod(self.manifest["label_shapes"][0]))
