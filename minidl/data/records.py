"""Folders of labelled images as DL4J/DataVec reads them: splits, a record reader, an iterator.

The DL4J pipeline, line by line::

    split = FileSplit(root, ALLOWED_FORMATS, seed=13)          # every image under root, shuffled
    path_filter = BalancedPathFilter(seed, ALLOWED_FORMATS, ParentPathLabelGenerator())
    train, test = split.sample(path_filter, 80, 20)            # same count per label, 80/20
    reader = ImageRecordReader(224, 224, 3, ParentPathLabelGenerator())
    reader.initialize(train)                                   # labels = sorted folder names
    it = RecordReaderDataSetIterator(reader, batch_size, 1, num_classes)

A file that cannot be decoded is skipped with a warning and recorded in ``reader.skipped``;
an epoch never stops half-way because of one bad JPEG.
"""

import math
import random
import warnings
from pathlib import Path

import numpy as np

from minidl.data.dataset import DataSet
from minidl.data.image import ImageDecodeError, NativeImageLoader
from minidl.data.iterators import DataSetIterator
from minidl.naming import Dl4jNames

# DL4J's BaseImageLoader.ALLOWED_FORMATS
ALLOWED_FORMATS = ("bmp", "gif", "jpg", "jpeg", "jp2", "pbm", "pgm", "ppm", "pnm", "png", "tif",
                   "tiff", "exr", "webp")


def _rng(rng_or_seed):
    """A ``random.Random``: pass one through, or seed a new one (None: unseeded)."""
    return rng_or_seed if isinstance(rng_or_seed, random.Random) else random.Random(rng_or_seed)


def _extension_filter(extensions):
    if extensions is None:
        return lambda path: True
    allowed = {ext.lower().lstrip(".") for ext in extensions}
    return lambda path: path.suffix.lower().lstrip(".") in allowed


class ParentPathLabelGenerator(Dl4jNames):
    """The label of ``.../daisy/123.jpg`` is its parent folder's name, ``"daisy"``."""

    def get_label_for_path(self, path):
        return Path(path).parent.name


class InputSplit(Dl4jNames):
    """An ordered list of file paths (DL4J's ``CollectionInputSplit``)."""

    def __init__(self, paths):
        self._paths = [Path(p) for p in paths]

    def locations(self):
        return list(self._paths)

    def length(self):
        return len(self._paths)

    __len__ = length

    def sample(self, path_filter, *weights):
        """Filter the paths, then cut them into consecutive parts proportional to ``weights``.

        ``split.sample(BalancedPathFilter(...), 80, 20)`` gives [train, test]. As in DL4J, part
        ``i`` starts at ``round(sum(weights[:i]) * n / sum(weights))``, halves rounded up (Java's
        ``Math.round``, not Python's round-half-to-even).
        """
        paths = path_filter.filter(self.locations()) if path_filter is not None else self.locations()
        if not weights:
            return [InputSplit(paths)]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"sample: weights must be non-negative with a positive sum, got {weights}")
        total, n, bounds, cumulative = sum(weights), len(paths), [], 0.0
        for w in weights:
            bounds.append(math.floor(cumulative * n / total + 0.5))
            cumulative += w
        bounds.append(n)
        return [InputSplit(paths[a:b]) for a, b in zip(bounds, bounds[1:])]


class FileSplit(InputSplit):
    """Every file under ``root`` (recursively) whose extension is allowed, in a seeded random order.

    ``allowed_extensions`` like ``("jpg", "png")`` (case-insensitive, dot optional; None: all);
    ``rng`` is a ``random.Random`` or a seed. Without one the order is sorted (reproducible).
    """

    def __init__(self, root, allowed_extensions=None, rng=None, *, seed=None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"FileSplit: {self.root} is not a folder")
        keep = _extension_filter(allowed_extensions)
        paths = sorted(p for p in self.root.rglob("*") if p.is_file() and keep(p))
        chosen = rng if rng is not None else seed
        if chosen is not None:
            _rng(chosen).shuffle(paths)
        super().__init__(paths)


class RandomPathFilter(Dl4jNames):
    """Shuffles paths, keeps allowed extensions, and at most ``max_paths`` of them (0: all)."""

    def __init__(self, rng=None, extensions=None, max_paths=0):
        self.rng, self.max_paths = _rng(rng), max_paths
        self._keep = _extension_filter(extensions)

    def filter(self, paths):
        paths = [Path(p) for p in paths]
        self.rng.shuffle(paths)
        paths = [p for p in paths if self._keep(p)]
        return paths[:self.max_paths] if self.max_paths > 0 else paths


class BalancedPathFilter(RandomPathFilter):
    """DL4J's balanced filter: the same number of paths per label, interleaved label by label.

    After the random shuffle the paths are grouped by label; every label keeps as many as the
    rarest label has (or ``max_paths_per_label`` if smaller), so classes are balanced and data
    of the larger classes is dropped. The output interleaves labels (a, b, c, a, b, c, ...), so
    any consecutive cut, such as ``sample``'s 80/20, is balanced too.
    """

    def __init__(self, rng=None, extensions=None, label_generator=None, max_paths=0, max_labels=0,
                 min_paths_per_label=0, max_paths_per_label=0):
        super().__init__(rng, extensions, max_paths)
        self.label_generator = label_generator or ParentPathLabelGenerator()
        self.max_labels = max_labels
        self.min_paths_per_label, self.max_paths_per_label = min_paths_per_label, max_paths_per_label

    def filter(self, paths):
        by_label = {}
        for path in super().filter(paths):
            label = self.label_generator.get_label_for_path(path)
            if label not in by_label and 0 < self.max_labels <= len(by_label):
                continue
            by_label.setdefault(label, []).append(path)
        if not by_label:
            return []
        per_label = min(len(group) for group in by_label.values())
        if self.max_paths_per_label > 0:
            per_label = min(per_label, self.max_paths_per_label)
        per_label = max(per_label, self.min_paths_per_label)
        return [group[i] for i in range(per_label) for group in by_label.values() if i < len(group)]


class ImageRecordReader(Dl4jNames):
    """Reads (image [1, c, h, w], label index, path) records from an ``InputSplit``.

    Labels are the sorted distinct names the label generator gives for the split's paths (DL4J
    sorts them too), so ``get_labels()[i]`` is the class of one-hot column ``i``. Files that fail
    to decode are skipped with a ``UserWarning`` and listed in ``skipped`` as (path, reason).
    """

    def __init__(self, height, width, channels=3, label_generator=None, *, channel_order="BGR"):
        self.loader = NativeImageLoader(height, width, channels, channel_order=channel_order)
        self.label_generator = label_generator
        self.paths, self.labels, self.skipped = [], [], []
        self._position, self._pending = 0, None

    def initialize(self, split):
        if not isinstance(split, InputSplit):
            split = InputSplit(split)
        self.paths = split.locations()
        if self.label_generator is not None:
            self.labels = sorted({self.label_generator.get_label_for_path(p) for p in self.paths})
        self._label_index = {label: i for i, label in enumerate(self.labels)}
        self.reset()
        return self

    def get_labels(self):
        return list(self.labels)

    def num_labels(self):
        return len(self.labels)

    def set_labels(self, labels):
        """Fix the label list (and thus one-hot columns), e.g. to give a test split the train's order."""
        self.labels = list(labels)
        self._label_index = {label: i for i, label in enumerate(self.labels)}

    def reset(self):
        self._position, self._pending = 0, None
        self.skipped = []

    def has_next(self):
        """Whether another decodable record remains (reads ahead past undecodable files)."""
        if self._pending is None:
            self._pending = self._read_next_good()
        return self._pending is not None

    def next_record(self):
        if not self.has_next():
            raise StopIteration("ImageRecordReader: no more records; call reset()")
        record, self._pending = self._pending, None
        return record

    def _read_next_good(self):
        while self._position < len(self.paths):
            path = self.paths[self._position]
            self._position += 1
            try:
                image = self.loader.as_matrix(path)
            except ImageDecodeError as error:
                warnings.warn(f"ImageRecordReader: skipping {path}: {error}", stacklevel=3)
                self.skipped.append((path, str(error)))
                continue
            return image, self._label_of(path), path
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
    labels one-hot float32 [n, num_classes], label names from the reader.

    ``label_index`` is the position of the label in a record [image, label]; only 1 exists for
    image records (kept for DL4J's signature). ``num_classes`` defaults to the reader's label
    count. Iteration, ``has_next()`` / ``next()`` / ``reset()`` and the pre-processor work as
    for every ``DataSetIterator``.
    """

    def __init__(self, reader, batch_size, label_index=1, num_classes=None):
        if label_index != 1:
            raise ValueError(f"RecordReaderDataSetIterator: image records are [image, label], so "
                             f"label_index must be 1, got {label_index}")
        if batch_size < 1:
            raise ValueError(f"RecordReaderDataSetIterator: batch_size must be >= 1, got {batch_size}")
        super().__init__(labels=reader.get_labels() or None)
        self.reader, self.batch_size = reader, int(batch_size)
        self.num_classes = reader.num_labels() if num_classes is None else int(num_classes)

    def has_next(self):
        return self.reader.has_next()

    def _next_batch(self, num=None):
        images, labels, paths = [], [], []
        while len(images) < (num or self.batch_size) and self.reader.has_next():
            image, label, path = self.reader.next_record()
            images.append(image)
            labels.append(label)
            paths.append(path)
        return DataSet(np.concatenate(images), self._one_hot(labels, paths))

    def _one_hot(self, labels, paths):
        one_hot = np.zeros((len(labels), self.num_classes), np.float32)
        for row, (label, path) in enumerate(zip(labels, paths)):
            if label is None or not 0 <= label < self.num_classes:
                raise ValueError(f"RecordReaderDataSetIterator: {path} has label index {label}, "
                                 f"expected 0..{self.num_classes - 1} (num_classes={self.num_classes})")
            one_hot[row, label] = 1.0
        return one_hot

    def reset(self):
        self.reader.reset()
        self._started = False

    def batch(self):
        return self.batch_size

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
