"""What every iterator shares: Python iteration on top of DL4J's has_next/next/reset, the
pre-processor, the cursor and seeded shuffling over indexed items, and DataSetIterator."""

import numpy as np

from minidl.data.dataset import numpy_rng
from minidl.naming import Dl4jNames


class BaseIterator(Dl4jNames):
    """What every iterator shares: Python iteration on top of DL4J's has_next/next/reset, and
    the pre-processor. Subclasses implement ``has_next``, ``_next_batch``, ``reset``."""

    def __init__(self):
        self.pre_processor = None
        self._started = False  # handed out a batch since the last reset

    # -- DL4J API --------------------------------------------------------------------------
    def has_next(self):
        """Whether another batch remains in this epoch."""
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
        """Start a new epoch from the first batch."""
        raise NotImplementedError

    def reset_supported(self):
        """Whether ``reset`` can start another epoch."""
        return True

    def async_supported(self):
        """Whether batches may be prefetched in a thread."""
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


class IndexedSource:
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
        """The batch size."""
        return self.batch_size

    def cursor(self):
        """How many items were handed out this epoch."""
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
        """The batch size (examples per batch, the last one may be smaller)."""
        raise NotImplementedError

    def total_examples(self):
        """Examples per epoch."""
        raise NotImplementedError

    def input_columns(self):
        """Features per example (flattened)."""
        raise NotImplementedError

    def total_outcomes(self):
        """Label columns (classes) per example."""
        raise NotImplementedError

    def get_labels(self):
        """The class names (DL4J's ``getLabels()``), or None when unknown."""
        return self.label_names

    @property
    def decode_mode(self):
        """How the images behind the batches were decoded from files (``"draft"``/``"full"``,
        see ``NativeImageLoader``), for records of what made some features; None for
        iterators that decode no image files."""
        return None

    def set_labels(self, labels):
        """Set the class names ``get_labels`` returns."""
        self.label_names = None if labels is None else [str(n) for n in labels]

    def next(self, num=None):
        batch = super().next(num)
        if self.label_names is not None and batch.label_names is None:
            batch.set_label_names(self.label_names)
        return batch


def reset_if_supported(iterator):
    """Start ``iterator`` over when it can be: before a pass that must see every batch. A
    plain iterable (a list of DataSets) or a one-pass iterator is used as it is."""
    if hasattr(iterator, "reset") and getattr(iterator, "reset_supported", lambda: True)():
        iterator.reset()
