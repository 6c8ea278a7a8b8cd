"""Folders of labelled images as DL4J/DataVec reads them: splits, a record reader, an iterator.

The DL4J pipeline, line by line::

    formats = BaseImageLoader.ALLOWED_FORMATS
    split = FileSplit(root, formats, rng)                       # every image under root, shuffled
    path_filter = BalancedPathFilter(rng, formats, ParentPathLabelGenerator())
    train, test = split.sample(path_filter, 80, 20)             # same count per label, 80/20
    reader = ImageRecordReader(224, 224, 3, ParentPathLabelGenerator())
    reader.initialize(train)                                    # labels = sorted folder names
    it = RecordReaderDataSetIterator(reader, batch_size, 1, num_classes)

The splits and filters (which files, and their labels) are in ``minidl.data.splits`` (and
importable from here too); this module reads the files they list. Without a label generator the
reader gives features-only records, and ``RecordReaderDataSetIterator(reader, n)`` features-only
DataSets, for inference over an unlabelled folder.

A file that cannot be decoded is skipped with a warning and recorded in ``reader.skipped``;
an epoch never stops half-way because of one bad JPEG (DL4J would throw), and the batch it was
in is one example shorter (a batch is its files). A missing file raises, as in DL4J.
"""

import warnings

import numpy as np

from minidl.data.dataset import DataSet
from minidl.data.image import ImageDecodeError, NativeImageLoader
from minidl.data.iterators import DataSetIterator
# the splits' names, where DL4J ports and older code import them from
from minidl.data.splits import (ALLOWED_FORMATS, BalancedPathFilter, FileSplit,  # noqa: F401
                                InputSplit, ParentPathLabelGenerator, RandomPathFilter)
from minidl.naming import Dl4jNames


class ImageRecordReader(Dl4jNames):
    """Reads image records from an ``InputSplit``: image float32 [1, c, h, w] and label index.

    ``next()`` gives DL4J's record, ``[image, label_index]``, or ``[image]`` for a reader without
    a label generator; ``next_record()`` gives ``(image, label_index or None, path)``.
    Labels are the sorted distinct names the label generator gives for the split's paths (DL4J
    sorts them too), so ``get_labels()[i]`` is the class of one-hot column ``i``. Files that fail
    to decode are skipped with a ``UserWarning`` and listed in ``skipped`` as (path, reason); a
    missing file raises ``FileNotFoundError``, as in DL4J. ``draft`` (default True) lets the
    loader decode large JPEGs at a reduced scale (see ``NativeImageLoader``).
    """

    def __init__(self, height, width, channels=3, label_generator=None, *, channel_order="BGR",
                 draft=True):
        self.loader = NativeImageLoader(height, width, channels, channel_order=channel_order,
                                        draft=draft)
        self.label_generator = label_generator
        self.paths, self.labels, self.skipped = [], [], []
        self._label_index = {}
        self._position, self._pending = 0, None

    def initialize(self, split):
        """Read the paths of ``split`` (an InputSplit or paths) and their labels."""
        if not isinstance(split, InputSplit):
            split = InputSplit(split)
        self.paths = split.locations()
        if self.label_generator is not None:
            self.labels = sorted({self.label_generator.get_label_for_path(p) for p in self.paths})
        self._label_index = {label: i for i, label in enumerate(self.labels)}
        self.reset()
        return self

    @property
    def decode_mode(self):
        """How the loader decodes files: ``"draft"`` or ``"full"`` (``NativeImageLoader``)."""
        return self.loader.decode_mode

    def get_labels(self):
        """The class names, sorted (one-hot column order)."""
        return list(self.labels)

    def num_labels(self):
        """How many classes."""
        return len(self.labels)

    def set_labels(self, labels):
        """Fix the label list (and thus one-hot columns), e.g. to give a test split the train's order."""
        self.labels = list(labels)
        self._label_index = {label: i for i, label in enumerate(self.labels)}

    def reset(self):
        """Read from the first path again."""
        self._position, self._pending = 0, None
        self.skipped = []

    def has_next(self):
        """Whether another decodable record remains (reads ahead past undecodable files)."""
        if self._pending is None:
            self._pending = self._read_next_good()
        return self._pending is not None

    def next(self):
        """DL4J's record: ``[image, label_index]``, or ``[image]`` without a label generator."""
        image, label, _ = self.next_record()
        return [image] if self.label_generator is None else [image, label]

    def next_record(self):
        """The next record with its file: ``(image, label_index or None, path)``."""
        if not self.has_next():
            raise StopIteration("ImageRecordReader: no more records; call reset()")
        (record, _), self._pending = self._pending, None
        return record

    def next_file_index(self):
        """The place in ``paths`` of the file the next record comes from (``len(paths)`` when no
        record is left): undecodable files before it have been skipped."""
        return self._pending[1] if self.has_next() else len(self.paths)

    def _read_next_good(self):
        """(the next decodable record, its file's index), or None at the end."""
        while self._position < len(self.paths):
            index, path = self._position, self.paths[self._position]
            self._position += 1
            try:
                image = self.loader.as_matrix(path)
            except ImageDecodeError as error:
                warnings.warn(f"ImageRecordReader: skipping {path}: {error}", stacklevel=3)
                self.skipped.append((path, str(error)))
                continue
            return (image, self._label_of(path), path), index
        return None

    def _label_of(self, path):
        if self.label_generator is None:
            return None
        label = self.label_generator.get_label_for_path(path)
        if label not in self._label_index:
            raise ValueError(f"ImageRecordReader: label {label!r} of {path} is not one of the "
                             f"reader's labels {self.labels}")
        return self._label_index[label]

    def __len__(self):
        return len(self.paths)


class RecordReaderDataSetIterator(DataSetIterator):
    """Batches of an ``ImageRecordReader`` as ``DataSet``\\ s: features float32 [n, c, h, w],
    labels one-hot float32 [n, num_classes] (None for an unlabelled reader), label names from
    the reader.

    As in DL4J, ``RecordReaderDataSetIterator(reader, batch_size)`` (``label_index`` -1) gives
    labels when the reader has a label generator and features-only DataSets when it has none,
    e.g. to run a network over a folder of unlabelled images. ``(reader, batch_size, 1,
    num_classes)`` asks for labels (1 is the label's place in an [image, label] record) and
    raises if the reader has no label generator. ``num_classes`` None (or DL4J's -1) means the
    reader's label count, read at every batch, as ``get_labels()`` is: the iterator may be made
    before ``reader.initialize(split)``. Iteration, ``has_next()`` / ``next()`` / ``reset()``
    and the pre-processor work as for every ``DataSetIterator``.
    """

    def __init__(self, reader, batch_size, label_index=-1, num_classes=None):
        if label_index not in (-1, 1):
            raise ValueError(f"RecordReaderDataSetIterator: image records are [image, label], so "
                             f"label_index must be 1 (or -1: the label if the reader has one), "
                             f"got {label_index}")
        if batch_size < 1:
            raise ValueError(f"RecordReaderDataSetIterator: batch_size must be >= 1, got {batch_size}")
        if num_classes not in (None, -1) and num_classes < 1:
            raise ValueError(f"RecordReaderDataSetIterator: num_classes must be >= 1 (or None: "
                             f"the reader's label count), got {num_classes}")
        super().__init__()
        self.reader, self.batch_size = reader, int(batch_size)
        self._first_file = 0  # the first file of the next batch, in the reader's list
        self._num_classes = None if num_classes in (None, -1) else int(num_classes)
        self._labelled = label_index == 1 or self._num_classes is not None \
            or reader.label_generator is not None
        if self._labelled and reader.label_generator is None:
            raise ValueError(
                f"RecordReaderDataSetIterator: labels asked for (label_index={label_index}, "
                f"num_classes={num_classes}) but the reader has no label generator: make it "
                f"ImageRecordReader(height, width, channels, ParentPathLabelGenerator()), or use "
                f"RecordReaderDataSetIterator(reader, batch_size) for features-only batches")

    @property
    def decode_mode(self):
        """How the reader decodes image files (``"draft"`` or ``"full"``), None if it cannot say."""
        return getattr(self.reader, "decode_mode", None)

    @property
    def num_classes(self):
        """The one-hot width: as given, else the reader's label count now; 0 without labels."""
        if not self._labelled:
            return 0
        return self._num_classes if self._num_classes is not None else self.reader.num_labels()

    def get_labels(self):
        """The reader's label names, asked at every call (DL4J's ``getLabels()``); None if none."""
        return self.reader.get_labels() or None

    def set_labels(self, labels):
        """Use these class names and one-hot columns (the reader's)."""
        self.reader.set_labels(labels)

    def has_next(self):
        return self.reader.has_next()

    def _next_batch(self, num=None):
        # A batch is the decodable images among its files, the next ``num`` of the reader's
        # list, not the next ``num`` images that decode: an undecodable file makes its own batch
        # shorter instead of moving every later file to another batch. So batch i is always
        # files i * num to (i + 1) * num - 1, which a Dask worker featurizing shard i reads by
        # itself (transfer.featurized_dask) and a resumed featurization can count on.
        images, labels, paths = [], [], []
        end = self._first_file + (num or self.batch_size)
        while self.reader.has_next() and self.reader.next_file_index() < end:
            image, label, path = self.reader.next_record()
            images.append(image)
            labels.append(label)
            paths.append(path)
        self._first_file = end
        if not images:  # no file of this batch decoded: the next batch (has_next() said one is)
            return self._next_batch(num)
        if not self._labelled:
            return DataSet(np.concatenate(images))
        batch = DataSet(np.concatenate(images), self._one_hot(labels, paths))
        batch.set_label_names(self.get_labels())
        return batch

    def _one_hot(self, labels, paths):
        num_classes = self.num_classes
        one_hot = np.zeros((len(labels), num_classes), np.float32)
        for row, (label, path) in enumerate(zip(labels, paths)):
            if not 0 <= label < num_classes:
                raise ValueError(f"RecordReaderDataSetIterator: {path} has label index {label}, "
                                 f"expected 0..{num_classes - 1} (num_classes={num_classes})")
            one_hot[row, label] = 1.0
        return one_hot

    def reset(self):
        self.reader.reset()
        self._started = False
        self._first_file = 0  # the first file of the next batch

    def batch(self):
        return self.batch_size

    def async_supported(self):
        """True, as in DL4J: decoding the next images on a thread (``AsyncDataSetIterator``)
        while the network works on the current batch pays."""
        return True

    def total_examples(self):
        return len(self.reader)

    def __len__(self):
        """Batches per epoch (an upper bound when undecodable images get skipped)."""
        return -(-len(self.reader) // self.batch_size)

    def input_columns(self):
        loader = self.reader.loader
        return loader.channels * loader.height * loader.width

    def total_outcomes(self):
        return self.num_classes

    @property
    def skipped(self):
        """Files skipped as undecodable in the current epoch: [(path, reason)]."""
        return self.reader.skipped
