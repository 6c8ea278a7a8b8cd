"""DataSet and MultiDataSet: a minibatch (or a whole small dataset) of features with labels.

Features follow DL4J's layouts: [batch, n_in] for dense input, [batch, channels, height, width]
for images. Labels are [batch, n_classes] one-hot rows for classification. Every array of a
DataSet has the examples along axis 0, so selecting, shuffling, splitting and merging are all
"take these rows of every array" (``_take_rows``); masks travel with their arrays.

A ``MultiDataSet`` holds lists of feature and label arrays (graphs with several inputs or
outputs), with the same row operations.

``save(path)`` writes one ``.npz`` (no pickle), which ``load(path)`` reads back into the object
it is called on, as DL4J's ``ds = new DataSet(); ds.load(file)`` does: ``DataSet().load(path)``.
A DataSet's file holds an array per field that is set (``features``, ``labels``,
``features_mask``, ``labels_mask``) and ``label_names`` as a string array; a MultiDataSet's holds
its lists as ``features[0]``, ``features[1]``, ... with the list's length in ``num_features``
(a list may hold None, a mask list in particular).

Randomness (``shuffle``, ``sample``, ``split_test_and_train``) takes an int seed, a
``random.Random`` (where DL4J passes a ``java.util.Random``) or a NumPy Generator; ``numpy_rng``
says how each becomes a NumPy Generator.
"""

import random

import numpy as np

from minidl.backend import get_array_module, to_cpu
from minidl.io.npz import describe, read_npz, write_npz
from minidl.naming import Dl4jNames


def _rows(a):
    return None if a is None else int(a.shape[0])


def _take(a, index):
    """Rows ``index`` (an integer array) of ``a``, as a new array; None stays None."""
    if a is None:
        return None
    xp = get_array_module(a)
    return a[xp.asarray(index)]


def _concat(arrays, what):
    """Concatenate along axis 0; all None gives None; a mix of None and arrays is an error."""
    if all(a is None for a in arrays):
        return None
    if any(a is None for a in arrays):
        raise ValueError(f"cannot merge: some datasets have {what} and some do not")
    shapes = {tuple(a.shape[1:]) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"cannot merge {what} of different shapes (after the example axis): "
                         f"{sorted(shapes)}")
    return get_array_module(*arrays).concatenate(arrays, axis=0)


def numpy_rng(rng):
    """A NumPy Generator for ``rng``: None (fresh, unseeded randomness), an int seed, a NumPy
    Generator (used as it is, so its state advances) or a ``random.Random``.

    A ``random.Random`` seeds a new Generator with 128 bits drawn from it: the same seeded
    Random gives the same draws, and, like a ``java.util.Random`` in DL4J, using it advances it,
    so a second shuffle with the same Random differs from the first. A negative int (a Java
    long) is read as its 64-bit two's complement.
    """
    if rng is None or isinstance(rng, np.random.Generator):
        return np.random.default_rng(rng)
    if isinstance(rng, random.Random):
        return np.random.default_rng(rng.getrandbits(128))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng) + (2**64 if rng < 0 else 0))
    raise TypeError(f"expected randomness as an int seed, a random.Random, a NumPy Generator or "
                    f"None, got {type(rng).__name__}")


def _permutation(n, rng):
    return numpy_rng(rng).permutation(n)


class SplitTestAndTrain(Dl4jNames):
    """The two halves of ``DataSet.split_test_and_train``: ``train`` first, ``test`` after."""

    def __init__(self, train, test):
        self.train, self.test = train, test

    def get_train(self):
        """The training part (a DataSet)."""
        return self.train

    def get_test(self):
        """The test part (a DataSet)."""
        return self.test

    def __iter__(self):  # train, test = ds.split_test_and_train(0.8)
        return iter((self.train, self.test))


class _RowData(Dl4jNames):
    """What DataSet and MultiDataSet share: every array has the examples along axis 0.

    Subclasses list their arrays in ``_fields`` and implement ``_from_fields``; each field holds
    an array, None, or (MultiDataSet) a list of arrays.
    """

    _fields = ()
    _fields_are_lists = False  # MultiDataSet: each field is a list of arrays (or None)
    _has_label_names = False   # DataSet: class names travel with the data (and its files)

    def num_examples(self):
        raise NotImplementedError

    def __len__(self):
        return self.num_examples()

    def _arrays(self):
        """(field name, array or None) pairs, lists flattened with an index."""
        for name in self._fields:
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                for i, a in enumerate(value):
                    yield f"{name}[{i}]", a
            else:
                yield name, value

    def _check_rows(self):
        counts = {name: _rows(a) for name, a in self._arrays() if a is not None}
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{name}: {n}" for name, n in counts.items())
            raise ValueError(f"{type(self).__name__}: every array needs the same number of "
                             f"examples (axis 0), got {detail}")

    def _take_rows(self, index):
        """A new object of the same kind with rows ``index`` of every array."""
        def take(value):
            if isinstance(value, (list, tuple)):
                return [_take(a, index) for a in value]
            return _take(value, index)
        return self._from_fields({name: take(getattr(self, name)) for name in self._fields})

    def _from_fields(self, fields):
        raise NotImplementedError

    def _set_rows(self, other):
        for name in self._fields:
            setattr(self, name, getattr(other, name))

    def get_range(self, start, end):
        """Examples ``start`` (inclusive) to ``end`` (exclusive), as a new object."""
        n = self.num_examples()
        if not 0 <= start <= end <= n:
            raise IndexError(f"{type(self).__name__}.get_range({start}, {end}) is outside "
                             f"0..{n} examples")
        return self._take_rows(np.arange(start, end))

    def get(self, i):
        """Example ``i`` (a one-example object); a list of indices gives those examples."""
        index = np.atleast_1d(to_cpu(i).astype(np.int64))  # checked on the host; may be on the GPU
        n = self.num_examples()
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"{type(self).__name__}.get({i}): index out of range for {n} examples")
        return self._take_rows(index)

    def shuffle(self, seed=None):
        """Shuffle the examples in place (DL4J's ``shuffle``); ``seed``: see ``numpy_rng``."""
        self._set_rows(self._take_rows(_permutation(self.num_examples(), seed)))

    def split_test_and_train(self, n_train, seed=None):
        """Split into ``n_train`` training examples and the rest for testing.

        ``n_train`` is a count (int) or a fraction (float in (0, 1)); as in DL4J, the first
        examples go to training unless ``seed`` (see ``numpy_rng``) asks for a shuffled split.
        Unlike DL4J, this object is left as it was.
        """
        n = self.num_examples()
        if n <= 1:
            raise ValueError(f"cannot split a {type(self).__name__} of {n} example(s)")
        if isinstance(n_train, float):
            if not 0.0 < n_train < 1.0:
                raise ValueError(f"split_test_and_train: a fraction must be in (0, 1), got "
                                 f"{n_train}")
            n_train = max(1, int(n_train * n))
        if not 0 < n_train < n:
            raise ValueError(f"split_test_and_train: need 0 < n_train < {n} examples, got "
                             f"{n_train}")
        order = np.arange(n) if seed is None else _permutation(n, seed)
        return SplitTestAndTrain(self._take_rows(order[:n_train]), self._take_rows(order[n_train:]))

    def batch_by(self, batch_size):
        """The examples in consecutive batches of ``batch_size`` (the last may be smaller)."""
        if int(batch_size) < 1:
            raise ValueError(f"batch_by: batch_size must be >= 1, got {batch_size}")
        n = self.num_examples()
        return [self.get_range(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]

    def as_list(self):
        """One single-example object per example."""
        return self.batch_by(1)

    def sample(self, num_samples, rng=None, with_replacement=False):
        """``num_samples`` examples drawn at random, as a new object (DL4J's ``sample``).

        ``rng``: see ``numpy_rng`` (None: fresh randomness); DL4J's ``sample(n, withReplacement)``
        works too. Without replacement no example is drawn twice (DL4J's draws can repeat either
        way), so ``num_samples`` may not exceed the examples.
        """
        if isinstance(rng, bool):  # DL4J's sample(int numSamples, boolean withReplacement)
            rng, with_replacement = None, rng
        n = self.num_examples()
        if int(num_samples) < 0 or (not with_replacement and num_samples > n):
            raise ValueError(f"{type(self).__name__}.sample: cannot draw {num_samples} of {n} "
                             f"examples {'with' if with_replacement else 'without'} replacement")
        rows = numpy_rng(rng).choice(n, int(num_samples), replace=with_replacement)
        return self._take_rows(rows)

    def copy(self):
        return self._take_rows(np.arange(self.num_examples()))

    dup = copy

    # -- files -----------------------------------------------------------------------------
    def save(self, path):
        """Write this object to ``path`` (a file name, written atomically, or a binary file
        object) as one ``.npz`` of host arrays; the module docstring lists its entries."""
        entries = {name: to_cpu(a) for name, a in self._arrays() if a is not None}
        if not entries:
            raise ValueError(f"{type(self).__name__}.save: nothing to save (no features, no "
                             f"labels)")
        for name in self._fields:
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):  # keeps the length: a list may hold None
                entries[f"num_{name}"] = np.array(len(value))
        if self._has_label_names and self.label_names is not None:
            entries[_LABEL_NAMES] = np.array(self.label_names, dtype=str)
        write_npz(path, entries)

    def load(self, path):
        """Fill this object from ``path`` (a file name or a binary file object) that ``save``
        wrote, with NumPy arrays, as DL4J's ``load(File)``; returns it, so
        ``ds = DataSet().load(path)`` reads a file in one line. Every field is replaced (one
        the file lacks becomes empty). Raises ValueError for a file that is not one."""
        kind = type(self).__name__
        entries = read_npz(path, f"{kind} file {describe(path)}")
        found = sorted(entries)
        label_names = entries.pop(_LABEL_NAMES, None) if self._has_label_names else None
        fields = self._fields_from_entries(entries)
        if not found or entries:  # nothing, or entries this kind does not write
            raise ValueError(f"{describe(path)} is not a saved {kind}: expected arrays among "
                             f"{self._entry_names()}, got {found}")
        try:
            loaded = self._from_fields(fields)
        except ValueError as e:
            raise ValueError(f"{describe(path)} is not a valid {kind}: {e}") from e
        self._set_rows(loaded)
        if self._has_label_names:
            self.set_label_names(None if label_names is None else label_names.tolist())
        return self

    def _fields_from_entries(self, entries):
        """{field: value} of the fields ``entries`` (an .npz's arrays) holds, taking out the
        entries it uses: an array per field, or for lists ``num_<field>`` and ``<field>[i]``."""
        fields = {}
        for name in self._fields:
            if not self._fields_are_lists:
                if name in entries:
                    fields[name] = entries.pop(name)
            elif f"num_{name}" in entries:
                count = int(entries.pop(f"num_{name}"))
                fields[name] = [entries.pop(f"{name}[{i}]", None) for i in range(count)]
        return fields

    def _entry_names(self):
        """The .npz entries ``save`` may write, for error messages."""
        if self._fields_are_lists:
            names = [n for field in self._fields for n in (f"num_{field}", f"{field}[i]")]
        else:
            names = list(self._fields)
        return sorted(names + ([_LABEL_NAMES] if self._has_label_names else []))


class DataSet(_RowData):
    """Features [batch, ...] and labels [batch, n_out], with optional masks; DL4J's getters too.

    Arrays may be NumPy or CuPy. Label names (``set_label_names``) travel with the data so that
    an ``Evaluation`` can print them.
    """

    _fields = ("features", "labels", "features_mask", "labels_mask")
    _has_label_names = True

    def __init__(self, features=None, labels=None, features_mask=None, labels_mask=None):
        self.features = features
        self.labels = labels
        self.features_mask = features_mask
        self.labels_mask = labels_mask
        self.label_names = None
        self._check_rows()

    def _from_fields(self, fields):
        out = DataSet(**fields)
        out.label_names = None if self.label_names is None else list(self.label_names)
        return out

    def get_features(self):
        """The features array [batch, ...]."""
        return self.features

    def get_labels(self):
        """The labels array [batch, n_outcomes]."""
        return self.labels

    def set_features(self, features):
        """Replace the features array."""
        self.features = features

    def set_labels(self, labels):
        """Replace the labels array."""
        self.labels = labels

    def get_features_mask_array(self):
        """The features mask, or None."""
        return self.features_mask

    def get_labels_mask_array(self):
        """The labels mask, or None."""
        return self.labels_mask

    def set_label_names(self, names):
        """Name the label columns (None: unnamed)."""
        self.label_names = None if names is None else [str(n) for n in names]

    def get_label_names(self):
        """The names of the label columns, or None."""
        return self.label_names

    def get_label_name(self, i):
        """The name of label column ``i``, or None when unnamed."""
        return None if self.label_names is None else self.label_names[i]

    def num_examples(self):
        """How many examples (rows) it holds."""
        for _, a in self._arrays():
            if a is not None:
                return int(a.shape[0])
        return 0

    def num_inputs(self):
        """Values per example (the feature columns; channels*height*width for images)."""
        return 0 if self.features is None else int(np.prod(self.features.shape[1:]))

    def num_outcomes(self):
        """How many label columns (0 without labels)."""
        return 0 if self.labels is None else int(self.labels.shape[1])

    @staticmethod
    def merge(datasets):
        """One DataSet with the examples of ``datasets`` (a list) in order."""
        datasets = list(datasets)
        if not datasets:
            raise ValueError("DataSet.merge needs at least one DataSet")
        merged = DataSet(*(_concat([getattr(d, f) for d in datasets], f)
                           for f in DataSet._fields))
        merged.label_names = datasets[0].label_names
        return merged

    def __repr__(self):
        shape = lambda a: None if a is None else tuple(a.shape)  # noqa: E731
        return f"DataSet(features={shape(self.features)}, labels={shape(self.labels)})"


class MultiDataSet(_RowData):
    """Lists of feature arrays and label arrays (one per graph input / output), with masks.

    ``get_features(i)`` / ``get_labels(i)`` give one array; without ``i`` the whole list.
    """

    _fields = ("features", "labels", "features_masks", "labels_masks")
    _fields_are_lists = True

    def __init__(self, features=(), labels=(), features_masks=None, labels_masks=None):
        self.features = as_list(features)
        self.labels = as_list(labels)
        self.features_masks = None if features_masks is None else as_list(features_masks)
        self.labels_masks = None if labels_masks is None else as_list(labels_masks)
        for masks, arrays, what in ((self.features_masks, self.features, "features"),
                                    (self.labels_masks, self.labels, "labels")):
            if masks is not None and len(masks) != len(arrays):
                raise ValueError(f"MultiDataSet: {len(masks)} {what} masks for {len(arrays)} "
                                 f"{what} arrays")
        self._check_rows()

    def _from_fields(self, fields):
        return MultiDataSet(**fields)

    def get_features(self, i=None):
        """The list of features arrays, or array ``i``."""
        return self.features if i is None else self.features[i]

    def get_labels(self, i=None):
        """The list of labels arrays, or array ``i``."""
        return self.labels if i is None else self.labels[i]

    def set_features(self, i, array=None):
        """``set_features(list)`` or DL4J's ``set_features(i, array)``."""
        if array is None:
            self.features = as_list(i)
        else:
            self.features[i] = array

    def set_labels(self, i, array=None):
        """Replace all labels arrays (one argument) or array ``i``."""
        if array is None:
            self.labels = as_list(i)
        else:
            self.labels[i] = array

    def get_features_mask_arrays(self):
        """The features masks (a list, or None)."""
        return self.features_masks

    def get_labels_mask_arrays(self):
        """The labels masks (a list, or None)."""
        return self.labels_masks

    def num_features_arrays(self):
        """How many features arrays (network inputs)."""
        return len(self.features)

    def num_labels_arrays(self):
        """How many labels arrays (network outputs)."""
        return len(self.labels)

    def num_examples(self):
        """How many examples (rows) it holds."""
        for _, a in self._arrays():
            if a is not None:
                return int(a.shape[0])
        return 0

    @staticmethod
    def merge(datasets):
        """One MultiDataSet with the examples of ``datasets`` (a list) in order."""
        datasets = list(datasets)
        if not datasets:
            raise ValueError("MultiDataSet.merge needs at least one MultiDataSet")
        counts = {(len(d.features), len(d.labels)) for d in datasets}
        if len(counts) > 1:
            raise ValueError(f"cannot merge MultiDataSets with different numbers of (features, "
                             f"labels) arrays: {sorted(counts)}")

        def merged(field):
            values = [getattr(d, field) for d in datasets]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError(f"cannot merge: some MultiDataSets have {field} and some do not")
            return [_concat([v[i] for v in values], f"{field}[{i}]") for i in range(len(values[0]))]

        return MultiDataSet(*(merged(f) for f in MultiDataSet._fields))

    @staticmethod
    def from_dataset(dataset):
        """The one-input, one-output MultiDataSet of a DataSet (arrays shared, not copied)."""
        wrap = lambda a: None if a is None else [a]  # noqa: E731
        return MultiDataSet(wrap(dataset.features), wrap(dataset.labels),
                            wrap(dataset.features_mask), wrap(dataset.labels_mask))

    def __repr__(self):
        shapes = lambda arrays: [tuple(a.shape) for a in arrays]  # noqa: E731
        return f"MultiDataSet(features={shapes(self.features)}, labels={shapes(self.labels)})"


def as_list(value):
    """``value`` as a new list: a list or tuple is copied, None is empty, anything else (one
    array, one DataSet) becomes a one-item list. For arguments that take one thing or several,
    such as a network's features (one array, or one per graph input)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_LABEL_NAMES = "label_names"  # the .npz entry DataSet.save keeps the label names in


def as_float32(a):
    """``a`` as a float32 NumPy array (images and labels arrive as uint8 or float64)."""
    return np.asarray(a, dtype=np.float32)
