"""Dataset iterators: minibatches one after another, epoch after epoch.

Both DL4J and Python styles work::

    it = ArrayDataSetIterator(x, y, batch_size=32, shuffle=True, seed=42)
    for batch in it:                 # Python: one epoch (resets first if already used)
        ...
    it.reset()
    while it.has_next():             # DL4J
        batch = it.next()

A pre-processor (anything with ``pre_process(dataset)``, e.g. a normalizer) set with
``set_pre_processor`` is applied to every batch handed out. It may change the batch in place:
batches are new arrays, never views of the source data.

Shuffling draws a new order at every ``reset()`` from one generator seeded at construction, so
the sequence of epochs is the same for the same seed.
"""

import numpy as np

from minidl.backend import get_array_module
from minidl.data.dataset import DataSet, MultiDataSet
from minidl.naming import Dl4jNames


class BaseIterator(Dl4jNames):
    """What every iterator shares: Python iteration on top of DL4J's has_next/next/reset, and
    the pre-processor. Subclasses implement ``has_next``, ``_next_batch``, ``reset``."""

    def __init__(self):
        self.pre_processor = None
        self._started = False  # handed out a batch since the last reset

    # -- DL4J API --------------------------------------------------------------------------
    def has_next(self):
        raise NotImplementedError

    def next(self, num=None):
        """The next batch (``num`` examples instead of the batch size when given)."""
        if not self.has_next():
            raise StopIteration(f"{type(self).__name__} has no more batches; call reset()")
        batch = self._next_batch(num)
        self._started = True
        if self.pre_processor is not None:
            self.pre_processor.pre_process(batch)
        return batch

    def _next_batch(self, num):
        raise NotImplementedError

    def reset(self):
        raise NotImplementedError

    def reset_supported(self):
        return True

    def async_supported(self):
        return False

    def set_pre_processor(self, pre_processor):
        if pre_processor is not None and not callable(getattr(pre_processor, "pre_process", None)):
            raise TypeError(f"a pre-processor needs a pre_process(dataset) method; "
                            f"{type(pre_processor).__name__} has none")
        self.pre_processor = pre_processor

    def get_pre_processor(self):
        return self.pre_processor

    # -- Python iteration ------------------------------------------------------------------
    def __iter__(self):
        if self._started and self.reset_supported():
            self.reset()
        while self.has_next():
            yield self.next()

    def __next__(self):
        return self.next()


class _IndexedSource:
    """Cursor, batching and per-epoch shuffling over ``n`` items fetched by ``take(indices)``."""

    def _init_order(self, n, batch_size, shuffle, seed):
        if int(batch_size) < 1:
            raise ValueError(f"{type(self).__name__}: batch_size must be >= 1, got {batch_size}")
        self.n_items = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()
        self._cursor = 0

    def _new_order(self):
        return self._rng.permutation(self.n_items) if self.shuffle else np.arange(self.n_items)

    def has_next(self):
        return self._cursor < self.n_items

    def _next_batch(self, num=None):
        size = self.batch_size if num is None else int(num)
        index = self._order[self._cursor:self._cursor + size]
        self._cursor += len(index)
        return self._take(index)

    def reset(self):
        self._cursor = 0
        self._started = False
        self._order = self._new_order()

    def batch(self):
        return self.batch_size

    def cursor(self):
        return self._cursor

    def __len__(self):
        """Batches per epoch."""
        return -(-self.n_items // self.batch_size)


class DataSetIterator(BaseIterator):
    """Abstract DL4J ``DataSetIterator``: batches of ``DataSet``.

    Besides iteration: ``batch()``, ``total_examples()``, ``input_columns()``,
    ``total_outcomes()``, ``get_labels()`` (class names, when known).
    """

    def __init__(self, labels=None):
        super().__init__()
        self.label_names = None if labels is None else [str(n) for n in labels]

    def batch(self):
        raise NotImplementedError

    def total_examples(self):
        raise NotImplementedError

    def input_columns(self):
        raise NotImplementedError

    def total_outcomes(self):
        raise NotImplementedError

    def get_labels(self):
        """The class names (DL4J's ``getLabels()``), or None when unknown."""
        return self.label_names

    def set_labels(self, labels):
        self.label_names = None if labels is None else [str(n) for n in labels]

    def next(self, num=None):
        batch = super().next(num)
        if self.label_names is not None and batch.label_names is None:
            batch.set_label_names(self.label_names)
        return batch


class ListDataSetIterator(_IndexedSource, DataSetIterator):
    """Batches from a DataSet or a list of DataSets (DL4J's ``ListDataSetIterator``, batch 10).

    From one DataSet, each batch is ``batch_size`` examples. From a list, as in DL4J, each batch
    merges ``batch_size`` items of the list: a list of single examples (``ds.as_list()``) gives
    batches of examples; a list of ready-made batches with ``batch_size=1`` gives them one by one.
    """

    def __init__(self, data, batch_size=10, shuffle=False, seed=None):
        if isinstance(data, DataSet):
            self._source, n = data, data.num_examples()
        else:
            self._source = list(data)
            if not self._source or not all(isinstance(d, DataSet) for d in self._source):
                raise ValueError("ListDataSetIterator needs a DataSet or a non-empty list of "
                                 "DataSets")
            n = len(self._source)
        first = data if isinstance(data, DataSet) else self._source[0]
        DataSetIterator.__init__(self, first.label_names)
        self._init_order(n, batch_size, shuffle, seed)

    def _take(self, index):
        if isinstance(self._source, DataSet):
            return self._source._take_rows(index)
        return DataSet.merge([self._source[i] for i in index])

    def _first(self):
        return self._source if isinstance(self._source, DataSet) else self._source[0]

    def total_examples(self):
        if isinstance(self._source, DataSet):
            return self.n_items
        return sum(d.num_examples() for d in self._source)

    def input_columns(self):
        return self._first().num_inputs()

    def total_outcomes(self):
        return self._first().num_outcomes()


class ArrayDataSetIterator(ListDataSetIterator):
    """Batches of rows of ``features`` [n, ...] and ``labels`` [n, n_out] arrays, optionally
    reshuffled every epoch with a seeded generator (minidl's; DL4J builds a ListDataSetIterator
    on a DataSet for this)."""

    def __init__(self, features, labels, batch_size, shuffle=False, seed=None, label_names=None):
        dataset = DataSet(features, labels)
        dataset.set_label_names(label_names)
        super().__init__(dataset, batch_size, shuffle, seed)


class INDArrayDataSetIterator(ArrayDataSetIterator):
    """DL4J's ``INDArrayDataSetIterator(Iterable<Pair<INDArray, INDArray>>, batchSize)``:
    batches of ``batch_size`` (features, labels) pairs, in order.

    Each pair is one example: its arrays are vectors ([n_in], [n_out]) or have an example axis
    of 1 ([1, n_in], [1, channels, height, width]), and a batch stacks ``batch_size`` of them
    as DL4J's ``Nd4j.vstack`` does. The pairs are read once, when the iterator is made, so a
    generator works and ``reset()`` starts again. Unlike DL4J, which drops the examples that do
    not fill a last batch, the last batch may be smaller.
    """

    def __init__(self, pairs, batch_size):
        features, labels = _stack_pairs(pairs)
        super().__init__(features, labels, batch_size)


def _stack_pairs(pairs):
    """(features, labels): the pairs' arrays stacked along a new example axis 0."""
    if hasattr(pairs, "shape"):
        raise TypeError("INDArrayDataSetIterator takes an iterable of (features, labels) pairs, "
                        "as DL4J's does, not an array; for whole arrays use "
                        "ArrayDataSetIterator(features, labels, batch_size)")
    features, labels = [], []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"INDArrayDataSetIterator: item {i} should be a (features, labels) "
                            f"pair, got {type(pair).__name__}")
        features.append(_one_example(pair[0], i, "features"))
        labels.append(_one_example(pair[1], i, "labels"))
    if not features:
        raise ValueError("INDArrayDataSetIterator: the iterable holds no (features, labels) pairs")
    return _concat_examples(features, "features"), _concat_examples(labels, "labels")


def _one_example(array, i, what):
    """``array`` as a [1, ...] array: a vector gains the example axis, [1, ...] stays."""
    if array is None or not hasattr(array, "shape"):
        raise TypeError(f"INDArrayDataSetIterator: the {what} of pair {i} should be an array, "
                        f"got {type(array).__name__}")
    if array.ndim == 1:
        return array[None]
    if array.ndim == 0 or array.shape[0] != 1:
        raise ValueError(f"INDArrayDataSetIterator: each pair is one example, so its {what} "
                         f"should be a vector or have a first axis of 1 ([1, ...]); pair {i} "
                         f"has shape {tuple(array.shape)}")
    return array


def _concat_examples(arrays, what):
    shapes = sorted({tuple(a.shape) for a in arrays})
    if len(shapes) > 1:
        raise ValueError(f"INDArrayDataSetIterator: every pair's {what} needs the same shape, "
                         f"got {shapes}")
    return get_array_module(*arrays).concatenate(arrays, axis=0)


class ExistingDataSetIterator(DataSetIterator):
    """DL4J's ``ExistingDataSetIterator``: hands out the DataSets of an iterable as they are.

    A list (or any re-iterable collection) can be reset; a one-shot iterator or generator cannot.
    """

    def __init__(self, datasets, labels=None):
        super().__init__(labels)
        self._datasets = datasets
        self._resettable = iter(datasets) is not datasets
        self._iter = iter(datasets)
        self._peeked = None

    def has_next(self):
        if self._peeked is None:
            self._peeked = next(self._iter, None)
        return self._peeked is not None

    def _next_batch(self, num=None):
        if num is not None:
            raise ValueError("ExistingDataSetIterator hands out its DataSets as they are; "
                             "next(num) is not supported")
        batch, self._peeked = self._peeked, None
        # A pre-processor changes batches in place: give it a copy, or the stored DataSets would
        # be normalised again every epoch.
        return batch.copy() if self.pre_processor is not None else batch

    def reset(self):
        if not self._resettable:
            raise ValueError("this ExistingDataSetIterator wraps a one-shot iterator and cannot "
                             "be reset; pass a list to iterate several epochs")
        self._iter, self._peeked, self._started = iter(self._datasets), None, False

    def reset_supported(self):
        return self._resettable

    def _peek_first(self):
        if not self._resettable:
            raise ValueError("cannot inspect a one-shot ExistingDataSetIterator")
        return next(iter(self._datasets))

    def batch(self):
        return self._peek_first().num_examples()

    def total_examples(self):
        return sum(d.num_examples() for d in self._datasets) if self._resettable else None

    def input_columns(self):
        return self._peek_first().num_inputs()

    def total_outcomes(self):
        return self._peek_first().num_outcomes()


class MultiDataSetIterator(BaseIterator):
    """Abstract DL4J ``MultiDataSetIterator``: batches of ``MultiDataSet``."""


class ListMultiDataSetIterator(_IndexedSource, MultiDataSetIterator):
    """Batches from a MultiDataSet or a list of MultiDataSets (same rules as
    ``ListDataSetIterator``)."""

    def __init__(self, data, batch_size=10, shuffle=False, seed=None):
        MultiDataSetIterator.__init__(self)
        if isinstance(data, MultiDataSet):
            self._source, n = data, data.num_examples()
        else:
            self._source = list(data)
            if not self._source or not all(isinstance(d, MultiDataSet) for d in self._source):
                raise ValueError("ListMultiDataSetIterator needs a MultiDataSet or a non-empty "
                                 "list of MultiDataSets")
            n = len(self._source)
        self._init_order(n, batch_size, shuffle, seed)

    def _take(self, index):
        if isinstance(self._source, MultiDataSet):
            return self._source._take_rows(index)
        return MultiDataSet.merge([self._source[i] for i in index])

    def total_examples(self):
        if isinstance(self._source, MultiDataSet):
            return self.n_items
        return sum(d.num_examples() for d in self._source)


class MultiDataSetIteratorAdapter(MultiDataSetIterator):
    """A DataSetIterator seen as a MultiDataSetIterator (one input, one output), as in DL4J."""

    def __init__(self, iterator):
        super().__init__()
        self.iterator = iterator

    def has_next(self):
        return self.iterator.has_next()

    def _next_batch(self, num=None):
        return MultiDataSet.from_dataset(self.iterator.next(num))

    def reset(self):
        self.iterator.reset()
        self._started = False

    def reset_supported(self):
        return self.iterator.reset_supported()

    def batch(self):
        return self.iterator.batch()
