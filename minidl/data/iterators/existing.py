"""Iterators over ready-made batches: the DataSets of an iterable (``ExistingDataSetIterator``)
or of numbered files (``ExistingMiniBatchDataSetIterator``), handed out as they are."""

import os

from minidl.data.dataset import DataSet
from minidl.data.iterators.base import DataSetIterator


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
