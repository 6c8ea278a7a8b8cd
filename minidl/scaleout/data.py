"""Training data for the workers, as one ordered stream of minibatches cut into rounds.

Whatever ``fit`` is given (a list of DataSets or MultiDataSets, an iterator of them, or a
folder of saved ones) becomes the same stream: consecutive minibatches of exactly
``batch_size_per_worker`` examples, merging and splitting the given objects as DL4J's
``IteratorDataSetIterator`` does (only the very last minibatch may be smaller). Round ``r``
takes the next ``num_workers x averaging_frequency`` minibatches, worker ``w`` the ``w``-th
consecutive share of ``averaging_frequency``.

In-memory data travels to the workers as arrays; a folder travels as file slices
``[(path, start, stop)]`` that each worker reads itself, so the driver never loads it.
"""

import json
import os
import zipfile

import numpy as np

from minidl.data.dataset import DataSet, MultiDataSet
from minidl.data.iterators import reset_if_supported
from minidl.io.npz import describe, read_npz

MANIFEST = "manifest.json"  # a featurized folder's (transfer.featurized): it is not a shard


def minibatches(objects, batch_size):
    """Consecutive minibatches of ``batch_size`` examples from DataSets or MultiDataSets
    ``objects`` (an iterable, read lazily), in order; the last may be smaller."""
    for run in _cut(objects, batch_size, lambda item: item.num_examples()):
        yield _merge([item if stop - start == item.num_examples() else
                      item.get_range(start, stop) for item, start, stop in run])


def _cut(items, batch_size, rows_of):
    """The one rebatching rule, for objects and files alike: ``items`` of ``rows_of(item)``
    examples each, cut into consecutive runs of ``batch_size`` examples, each a list of
    (item, start, stop); only the last run may be shorter."""
    pending, count = [], 0
    for item in items:
        rows, start = rows_of(item), 0
        while start < rows:
            take = min(batch_size - count, rows - start)
            pending.append((item, start, start + take))
            start, count = start + take, count + take
            if count == batch_size:
                yield pending
                pending, count = [], 0
    if pending:
        yield pending


def _merge(items):
    return items[0] if len(items) == 1 else type(items[0]).merge(items)


def source_objects(data):
    """The DataSets of ``data``: a list, an iterator (reset first when it can be) or one
    DataSet."""
    if hasattr(data, "features") and hasattr(data, "labels"):
        return [data]
    reset_if_supported(data)
    return data


def label_names(data):
    """The class names ``data`` knows: an iterator's ``get_labels()``, a featurized folder's
    manifest ``label_names``, a DataSet's; None when it knows none."""
    if isinstance(data, (str, os.PathLike)):
        path = os.path.join(data, MANIFEST)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("label_names")
    if hasattr(data, "get_labels") and not hasattr(data, "features"):
        return data.get_labels()
    return getattr(data, "label_names", None)


# -- folders ------------------------------------------------------------------------------------
def folder_files(directory):
    """The data files of ``directory`` in name order: ``.npz`` files that are not hidden (a
    featurized folder's shards, or ``DataSet.save`` output); temporary files are left out."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no such data folder: {directory}")
    names = sorted(n for n in os.listdir(directory)
                   if n.endswith(".npz") and not n.startswith("."))
    if not names:
        raise ValueError(f"{directory} holds no .npz data files (saved DataSets or featurized "
                         f"shards)")
    return [os.path.join(directory, n) for n in names]


def rows_in_file(path):
    """Examples in a saved DataSet / MultiDataSet / featurized shard, read from the first
    features array's header (the arrays themselves are not read)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            for candidate in ("features.npy", "features_0.npy", "features[0].npy"):
                if candidate in names:
                    with zf.open(candidate) as f:
                        shape = _npy_shape(f)
                    return int(shape[0])
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise ValueError(f"data file {path} is not a readable .npz ({error})") from None
    raise ValueError(f"data file {path} holds no features array (entries {names})")


def _npy_shape(f):
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
        np.lib.format.read_array_header_2_0
    return read(f)[0]


def file_minibatches(paths, batch_size):
    """The minibatches of the files ``paths`` as slices: lists of (path, start, stop)."""
    for run in _cut(paths, batch_size, rows_in_file):
        yield FileSlices(run)


class FileSlices(list):
    """One minibatch as ``[(path, start, stop)]``: the worker reads and merges the slices."""


def load_file(path):
    """A DataSet or MultiDataSet from a ``.npz``: a featurized shard (``features_i`` /
    ``labels_i``) or what ``DataSet.save`` / ``MultiDataSet.save`` wrote."""
    arrays = read_npz(path, f"data file {describe(path)}")
    names = set(arrays)
    if "features_0" in names:
        features = [arrays[f"features_{i}"] for i in range(len(names))
                    if f"features_{i}" in names]
        labels = [arrays[f"labels_{i}"] for i in range(len(names)) if f"labels_{i}" in names]
        if len(features) == 1 and len(labels) <= 1:
            return DataSet(features[0], labels[0] if labels else None)
        return MultiDataSet(features, labels)
    return (MultiDataSet() if "num_features" in names else DataSet()).load(path)


def resolve(minibatch):
    """On a worker: a minibatch as a DataSet/MultiDataSet (file slices are read here)."""
    if not isinstance(minibatch, FileSlices):
        return minibatch
    loaded, parts = {}, []
    for path, start, stop in minibatch:
        if path not in loaded:
            loaded[path] = load_file(path)
        parts.append(loaded[path].get_range(start, stop))
    return _merge(parts)


def examples_in(minibatch):
    """Examples in a minibatch, without reading files."""
    if isinstance(minibatch, FileSlices):
        return sum(stop - start for _, start, stop in minibatch)
    return minibatch.num_examples()
