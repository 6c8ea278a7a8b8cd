"""Iterators over another iterator: ``AsyncDataSetIterator`` reads its batches ahead on a
background thread, ``MultipleEpochsIterator`` repeats it."""

import queue
import threading
import weakref

import numpy as np

from minidl.data.dataset import DataSet
from minidl.data.iterators.arrays import ListDataSetIterator
from minidl.data.iterators.base import DataSetIterator


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

    @property
    def decode_mode(self):
        return getattr(self.iterator, "decode_mode", None)

    def get_pre_processor(self):
        """The pre-processor the batches go through: this iterator's, else the wrapped one's
        (so a record of how the data was normalised, such as featurize_to_disk's manifest, sees
        through the wrapper)."""
        if self.pre_processor is not None:
            return self.pre_processor
        return getattr(self.iterator, "get_pre_processor", lambda: None)()

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

    def __len__(self):
        """Batches per epoch: the wrapped iterator's (TypeError if it cannot tell)."""
        return len(self.iterator)

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
