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

Shuffling draws a new order at every ``reset()`` from one generator seeded at construction
(``seed``: an int, a ``random.Random`` or a NumPy Generator, see ``numpy_rng``), so the sequence
of epochs is the same for the same seed.

Wrappers take another iterator: ``AsyncDataSetIterator`` prefetches its batches on a background
thread, ``MultipleEpochsIterator`` repeats it. ``ExistingMiniBatchDataSetIterator`` reads the
files ``DataSet.save`` wrote, one batch per file.
"""

import os
import queue
import threading
import weakref

import numpy as np

from minidl.backend import get_array_module
from minidl.data.dataset import DataSet, MultiDataSet, numpy_rng
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

    def _own(self, batch):
        """``batch`` to hand out, for an iterator that hands out stored batches: a pre-processor
        changes batches in place, so it gets a copy, or the stored ones would be normalised
        again every epoch."""
        return batch.copy() if self.pre_processor is not None else batch

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
        self._rng = numpy_rng(seed)
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


def reset_if_supported(iterator):
    """Start ``iterator`` over when it can be: before a pass that must see every batch. A
    plain iterable (a list of DataSets) or a one-pass iterator is used as it is."""
    if hasattr(iterator, "reset") and getattr(iterator, "reset_supported", lambda: True)():
        iterator.reset()


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
        return self._own(batch)

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


class ExistingMiniBatchDataSetIterator(DataSetIterator):
    """DL4J's ``ExistingMiniBatchDataSetIterator``: DataSets saved one batch per numbered file
    in ``root_dir``, handed out in number order.

    File ``i`` is named ``pattern % i``, as Java's ``String.format(pattern, i)``: DL4J's default
    is ``"dataset-%d.bin"``; its FeaturizedPreSave example saves ``flowers-fc2-train-0.bin``,
    ``-1.bin``, ... with ``DataSet.save`` and FitFromFeaturized reads them back with
    ``ExistingMiniBatchDataSetIterator("trainFolder", "flowers-fc2-train-%d.bin")``. The files
    hold minidl's ``.npz`` whatever their name: DL4J's own ``.bin`` files cannot be read.

    Files 0, 1, 2, ... are read up to the first number missing, counted when the iterator is
    made and at every ``reset()``; DL4J counts every file in the folder, so that any other file
    there makes it fail. A folder without file 0 is an error, not an empty epoch. Where DL4J
    throws or returns null, ``batch()``, ``input_columns()``, ``total_outcomes()`` and
    ``get_labels()`` answer from file 0 and ``total_examples()`` reads every file.
    """

    DEFAULT_PATTERN = "dataset-%d.bin"

    def __init__(self, root_dir, pattern=DEFAULT_PATTERN):
        super().__init__()
        self.root_dir, self.pattern = os.fspath(root_dir), pattern
        self._count = self._count_files()
        self._cursor = 0

    def _path(self, index):
        try:
            name = self.pattern % index
        except (TypeError, ValueError) as e:
            raise ValueError(f"ExistingMiniBatchDataSetIterator: the pattern {self.pattern!r} "
                             f"should hold one %d for the file number, as in DL4J's "
                             f"\"dataset-%d.bin\" ({e})") from None
        return os.path.join(self.root_dir, name)

    def _count_files(self):
        """How many files 0, 1, 2, ... exist before the first missing number."""
        if not os.path.isdir(self.root_dir):
            raise FileNotFoundError(f"ExistingMiniBatchDataSetIterator: the folder "
                                    f"{self.root_dir!r} does not exist")
        count = 0
        while os.path.isfile(self._path(count)):
            count += 1
        if count == 0:
            present = sorted(os.listdir(self.root_dir))
            raise FileNotFoundError(
                f"ExistingMiniBatchDataSetIterator: no file {os.path.basename(self._path(0))!r} "
                f"in {self.root_dir!r} (pattern {self.pattern!r}, numbered from 0); the folder "
                f"holds {present[:5] + ['...'] if len(present) > 5 else present}")
        return count

    def _read(self, index):
        return DataSet().load(self._path(index))

    def has_next(self):
        return self._cursor < self._count

    def _next_batch(self, num=None):
        if num is not None:
            raise ValueError("ExistingMiniBatchDataSetIterator hands out its files' batches as "
                             "they are; next(num) is not supported (as in DL4J)")
        self._cursor += 1
        return self._read(self._cursor - 1)

    def reset(self):
        self._count = self._count_files()
        self._cursor, self._started = 0, False

    def __len__(self):
        """Batches (files) per epoch."""
        return self._count

    def batch(self):
        return self._read(0).num_examples()

    def total_examples(self):
        return sum(self._read(i).num_examples() for i in range(self._count))

    def input_columns(self):
        return self._read(0).num_inputs()

    def total_outcomes(self):
        return self._read(0).num_outcomes()

    def get_labels(self):
        """The class names saved with file 0, or None (DL4J's returns null)."""
        if self.label_names is None:
            self.label_names = self._read(0).get_label_names()
        return self.label_names


class _WrappedIterator(DataSetIterator):
    """An iterator over the batches of another one, ``self.iterator``, which answers the
    questions about the data. Its own pre-processor works on a copy of each batch, so batches
    the wrapped iterator keeps (``ExistingDataSetIterator``'s) are never changed."""

    def __init__(self, iterator):
        super().__init__()
        if not all(callable(getattr(iterator, m, None)) for m in ("has_next", "next", "reset")):
            raise TypeError(f"{type(self).__name__} wraps an iterator with has_next(), next() "
                            f"and reset() (a DataSetIterator), got {type(iterator).__name__}")
        self.iterator = iterator

    def get_labels(self):
        return getattr(self.iterator, "get_labels", lambda: None)()

    def reset_supported(self):
        return self.iterator.reset_supported()

    def batch(self):
        return self.iterator.batch()

    def total_examples(self):
        return self.iterator.total_examples()

    def input_columns(self):
        return self.iterator.input_columns()

    def total_outcomes(self):
        return self.iterator.total_outcomes()


_END = object()     # the producer's last item: the wrapped iterator has no more batches
_STOP_POLL_S = 0.1  # how often a producer waiting for room in the queue checks if it should stop


class _ProducerFailed:
    """The exception that stopped a producer thread, for the consumer to raise."""

    def __init__(self, error):
        self.error = error


def _prefetch(source, batches, stop):
    """The producer thread: ``source``'s batches into the queue ``batches``, then ``_END`` (or
    the exception that stopped it), unless ``stop`` is set first. It holds no reference to its
    AsyncDataSetIterator, so a dropped one can be collected (its finalizer sets ``stop``)."""
    try:
        while not stop.is_set() and source.has_next():
            if not _put(batches, source.next(), stop):
                return
        _put(batches, _END, stop)
    except BaseException as error:  # anything: the consumer must never wait for a lost batch
        _put(batches, _ProducerFailed(error), stop)


def _put(batches, item, stop):
    """Put ``item`` in the queue once it has room; False if ``stop`` is set first."""
    while not stop.is_set():
        try:
            batches.put(item, timeout=_STOP_POLL_S)
            return True
        except queue.Full:
            pass
    return False


def _leave_only_the_end(batches):
    """Drop what ``batches`` holds and put the end marker in it."""
    while True:
        try:
            batches.get_nowait()
        except queue.Empty:
            break
    batches.put_nowait(_END)


class AsyncDataSetIterator(_WrappedIterator):
    """DL4J's ``AsyncDataSetIterator``: the batches of ``iterator``, read ahead on a thread.

    While the network trains on one batch, a background thread already reads the next ones, up
    to ``queue_size`` (DL4J's default 8, at least 2). It pays when ``next()`` waits on a disk
    (``ExistingMiniBatchDataSetIterator``) or decodes images. ``iterator`` belongs to that
    thread: do not use it directly meanwhile.

    - An exception raised by ``iterator`` is raised again here, to the caller of ``has_next()``
      or ``next()`` (the same exception, with its traceback), and at every call after it until
      ``reset()``.
    - The thread starts at the first ``has_next()``/``next()`` (DL4J's: when the iterator is
      made); ``reset()`` stops it, resets ``iterator`` and starts again.
    - Stopping early: ``shutdown()`` (DL4J's), or the end of a ``with AsyncDataSetIterator(it)
      as batches:`` block, stops the thread at once; then ``has_next()`` is False until
      ``reset()``. An iterator left mid-epoch holds at most ``queue_size`` + 2 batches (the
      queue's, one the thread is putting in, one ``has_next()`` took out) and a waiting
      thread until it is reset, shut down or garbage-collected (which stops the thread too). The
      thread is a daemon: it never keeps Python from exiting.
    - ``next(num)`` is not supported, as in DL4J. A pre-processor set here is applied as batches
      are handed out (DL4J passes it to ``iterator``, on the thread); one set on ``iterator``
      runs on the thread.
    """

    def __init__(self, iterator, queue_size=8):
        super().__init__(iterator)
        self.queue_size = max(2, int(queue_size))  # as DL4J
        if iterator.reset_supported() and not iterator.has_next():  # as DL4J: start again
            iterator.reset()
        self._thread = None
        self._peeked = None  # taken from the queue by has_next(), not yet handed out

    def _start(self):
        stop = threading.Event()
        self._queue = queue.Queue(self.queue_size)
        self._thread = threading.Thread(target=_prefetch, args=(self.iterator, self._queue, stop),
                                        name="AsyncDataSetIterator prefetch", daemon=True)
        self._stop_thread = weakref.finalize(self, stop.set)  # also run if this is collected
        self._thread.start()

    def has_next(self):
        if self._peeked is None:
            if self._thread is None:
                self._start()
            self._peeked = self._queue.get()
        if isinstance(self._peeked, _ProducerFailed):
            raise self._peeked.error
        return self._peeked is not _END

    def _next_batch(self, num=None):
        if num is not None:
            raise ValueError("AsyncDataSetIterator hands out the batches of its iterator as "
                             "they come; next(num) is not supported (as in DL4J)")
        batch, self._peeked = self._peeked, None
        return self._own(batch)

    def shutdown(self):
        """Stop the background thread now, dropping the batches read ahead (DL4J's
        ``shutdown``); ``has_next()`` is False until ``reset()``."""
        if self._thread is not None:
            self._stop_thread()
            self._thread.join()
            _leave_only_the_end(self._queue)  # wakes a has_next() waiting on another thread
            self._thread = self._queue = None
        self._peeked = _END

    def reset(self):
        self.shutdown()
        self.iterator.reset()
        self._peeked, self._started = None, False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.shutdown()


class MultipleEpochsIterator(_WrappedIterator):
    """DL4J's ``MultipleEpochsIterator(numEpochs, iterator)``: ``num_epochs`` passes over
    ``iterator`` as one stream of batches, resetting it between passes.

    ``iterator`` may also be a DataSet (DL4J's ``MultipleEpochsIterator(numEpochs, DataSet)``),
    handed out whole in every pass. DL4J deprecates this class for ``net.fit(iterator,
    num_epochs)``, which counts the epochs: a network fitted on it counts one epoch in all.
    ``total_examples()`` is one pass's.
    """

    def __init__(self, num_epochs, iterator):
        if not isinstance(num_epochs, (int, np.integer)) or isinstance(num_epochs, bool):
            raise TypeError(f"MultipleEpochsIterator(num_epochs, iterator): the number of epochs "
                            f"comes first, as in DL4J; got {type(num_epochs).__name__} first")
        if isinstance(iterator, DataSet):
            iterator = ListDataSetIterator(iterator, max(1, iterator.num_examples()))
        super().__init__(iterator)
        if num_epochs < 1:
            raise ValueError(f"MultipleEpochsIterator: num_epochs must be >= 1, got {num_epochs}")
        if num_epochs > 1 and not iterator.reset_supported():
            raise ValueError(f"MultipleEpochsIterator: {num_epochs} epochs need an iterator "
                             f"that can be reset; this {type(iterator).__name__} cannot")
        self.num_epochs = int(num_epochs)
        self._epoch = 0  # passes finished before the current one

    def has_next(self):
        while not self.iterator.has_next() and self._epoch + 1 < self.num_epochs:
            self.iterator.reset()
            self._epoch += 1
        return self.iterator.has_next()

    def _next_batch(self, num=None):
        return self._own(self.iterator.next(num))

    def reset(self):
        self.iterator.reset()
        self._epoch, self._started = 0, False


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
