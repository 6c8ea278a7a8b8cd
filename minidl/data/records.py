"""Folders of labelled images as DL4J/DataVec reads them: splits, a record reader, an iterator.

The DL4J pipeline, line by line::

    formats = BaseImageLoader.ALLOWED_FORMATS
    split = FileSplit(root, formats, rng)                       # every image under root, shuffled
    path_filter = BalancedPathFilter(rng, formats, ParentPathLabelGenerator())
    train, test = split.sample(path_filter, 80, 20)             # same count per label, 80/20
    reader = ImageRecordReader(224, 224, 3, ParentPathLabelGenerator())
    reader.initialize(train)                                    # labels = sorted folder names
    it = RecordReaderDataSetIterator(reader, batch_size, 1, num_classes)

The splits and filters take DL4J's constructor overloads (``FileSplit(root, formats, False)``,
``RandomPathFilter(rng, "jpg", "png")``, ...), matched by argument kinds in ``_bind``.
Extensions match case-sensitively, as in DataVec (its lists hold both cases). Without a label
generator the reader gives features-only records, and ``RecordReaderDataSetIterator(reader, n)``
features-only DataSets, for inference over an unlabelled folder.

A file that cannot be decoded is skipped with a warning and recorded in ``reader.skipped``;
an epoch never stops half-way because of one bad JPEG (DL4J would throw), and the batch it was
in is one example shorter (a batch is its files). A missing file raises, as in DL4J.
"""

import math
import numbers
import random
import warnings
from collections.abc import Collection
from pathlib import Path

import numpy as np

from minidl.data.dataset import DataSet
from minidl.data.image import BaseImageLoader, ImageDecodeError, NativeImageLoader
from minidl.data.iterators import DataSetIterator
from minidl.naming import Dl4jNames

# What DL4J's examples list images with (FlowerDataSetIterator: BaseImageLoader.ALLOWED_FORMATS).
ALLOWED_FORMATS = BaseImageLoader.ALLOWED_FORMATS


# -- DL4J's overloaded constructors --------------------------------------------------------------
def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_rng(value):
    """DL4J's ``Random`` (null allowed); a seed stands for ``new Random(seed)``."""
    return value is None or isinstance(value, random.Random) or _is_count(value)


def _is_names(value):
    """DL4J's ``String[]`` (null allowed); one string is one name."""
    return value is None or isinstance(value, str) or (
        isinstance(value, Collection) and all(isinstance(item, str) for item in value))


def _is_label_generator(value):
    return value is None or callable(getattr(value, "get_label_for_path", None))


# Each parameter name the splits and filters take, with the kind of value it accepts.
_KINDS = {
    "rng": (_is_rng, "a random.Random or an int seed"),
    "seed": (_is_rng, "an int seed"),
    "allowed_extensions": (_is_names, "a list of extensions or one extension"),
    "extensions": (_is_names, "a list of extensions or one extension"),
    "recursive": (lambda value: isinstance(value, (bool, np.bool_)), "a bool"),
    "label_generator": (_is_label_generator, "a label generator, e.g. ParentPathLabelGenerator()"),
    "labels": (_is_names, "a list of label names"),
    "max_paths": (_is_count, "an int"),
    "max_labels": (_is_count, "an int"),
    "min_paths_per_label": (_is_count, "an int"),
    "max_paths_per_label": (_is_count, "an int"),
}


def _bind(owner, forms, args, keywords, defaults, leading=()):
    """Match positional ``args`` to the first of DL4J's overloads ``forms`` (tuples of parameter
    names) whose kinds they fit, add ``keywords``, and return every parameter's value.

    Java picks an overload by argument types; Python cannot, so a ``False`` meant as
    ``recursive`` would otherwise land in a seed's place. Anything no form accepts is a
    ``TypeError`` listing the forms.
    """
    form = next((form for form in forms if len(form) == len(args) and all(
        _KINDS[name][0](value) for name, value in zip(form, args))), None)
    if form is None:
        got = ", ".join(type(value).__name__ for value in args)
        raise TypeError(f"{owner}: no constructor takes ({', '.join((*leading, got))}); "
                        f"{_describe_forms(owner, forms, leading)}")
    for name, value in keywords.items():
        if name not in defaults:
            raise TypeError(f"{owner}: unknown keyword {name!r}; keywords: {', '.join(defaults)}")
        if name in form:
            raise TypeError(f"{owner}: {name!r} given both by position and by keyword")
        if not _KINDS[name][0](value):
            raise TypeError(f"{owner}: {name} must be {_KINDS[name][1]}, got {value!r}")
    return {**defaults, **keywords, **dict(zip(form, args))}


def _describe_forms(owner, forms, leading):
    signatures = "; ".join(f"{owner}({', '.join((*leading, *form))})" for form in forms)
    kinds = "; ".join(f"{name}: {_KINDS[name][1]}"
                      for name in sorted({name for form in forms for name in form}))
    return f"accepted: {signatures} ({kinds})"


def _gather_varargs(args, start):
    """Java's ``String...`` tail: the strings from position ``start`` on become one tuple."""
    tail = args[start:]
    if tail and all(isinstance(value, str) for value in tail):
        return (*args[:start], tuple(tail))
    return args


def _names(value):
    """None, one string or a collection of strings -> None or a tuple of strings."""
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _rng(rng_or_seed):
    """A ``random.Random``: pass one through, or seed a new one (None: unseeded)."""
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    return random.Random(None if rng_or_seed is None else int(rng_or_seed))


def _extension_filter(extensions):
    """DataVec's test: the file name ends with "." + an allowed extension, case-sensitively (so
    DataVec's lists hold "jpg" and "JPG"); a leading dot is optional. None or none: every file."""
    if not extensions:
        return lambda path: True
    suffixes = tuple("." + extension.lstrip(".") for extension in _names(extensions))
    return lambda path: Path(path).name.endswith(suffixes)


# -- paths and splits ----------------------------------------------------------------------------
class ParentPathLabelGenerator(Dl4jNames):
    """The label of ``.../daisy/123.jpg`` is its parent folder's name, ``"daisy"``."""

    def get_label_for_path(self, path):
        """The label of ``path``: its parent folder's name."""
        return Path(path).parent.name


class InputSplit(Dl4jNames):
    """An ordered list of file paths (DL4J's ``CollectionInputSplit``)."""

    def __init__(self, paths):
        self._paths = [Path(p) for p in paths]

    def locations(self):
        """The paths, in order."""
        return list(self._paths)

    def length(self):
        """How many paths."""
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
    """Every file under ``root`` whose extension is allowed, in a seeded random order.

    DL4J's constructors: ``FileSplit(root)``, ``(root, rng)``, ``(root, allowed_extensions)``,
    ``(root, allowed_extensions, rng)``, ``(root, allowed_extensions, recursive)``; the same
    names work as keywords, and ``seed=`` stands for ``rng``. ``allowed_extensions`` is a list
    such as ``BaseImageLoader.ALLOWED_FORMATS`` or one extension (``"jpg"``), matched
    case-sensitively as in DataVec; None lists every file. ``rng`` is a ``random.Random`` or a
    seed; without one the order is sorted (reproducible; DL4J's is the file system's).
    ``recursive=False`` lists only the files directly in ``root``. A ``root`` that is a file
    gives a split of that one file, as in DL4J.
    """

    _FORMS = ((), ("rng",), ("allowed_extensions",), ("allowed_extensions", "rng"),
              ("allowed_extensions", "recursive"))

    def __init__(self, root, *args, **keywords):
        options = _bind("FileSplit", self._FORMS, args, keywords, leading=("root",), defaults=dict(
            allowed_extensions=None, rng=None, recursive=True, seed=None))
        if options["rng"] is not None and options["seed"] is not None:
            raise TypeError("FileSplit: give rng or seed, not both")
        self.root = Path(root)
        paths = self._list_files(options["allowed_extensions"], options["recursive"])
        rng = options["rng"] if options["rng"] is not None else options["seed"]
        if rng is not None:
            _rng(rng).shuffle(paths)
        super().__init__(paths)

    def _list_files(self, allowed_extensions, recursive):
        if self.root.is_file():
            return [self.root]
        if not self.root.is_dir():
            raise FileNotFoundError(f"FileSplit: no such file or folder: {self.root}")
        keep = _extension_filter(allowed_extensions)
        candidates = self.root.rglob("*") if recursive else self.root.iterdir()
        return sorted(path for path in candidates if path.is_file() and keep(path))

    def get_root_dir(self):
        """The folder the paths were listed from."""
        return self.root


class RandomPathFilter(Dl4jNames):
    """Shuffles paths, keeps allowed extensions, and at most ``max_paths`` of them (0: all).

    DL4J's constructors: ``RandomPathFilter(rng, *extensions)`` (``(rng, "jpg", "png")`` or
    ``(rng, ["jpg", "png"])``) and ``(rng, extensions, max_paths)``; keywords ``rng``,
    ``extensions``, ``max_paths`` too. ``rng`` is a ``random.Random`` or a seed.
    """

    _FORMS = ((), ("rng",), ("rng", "extensions"), ("rng", "extensions", "max_paths"))

    def __init__(self, *args, **keywords):
        options = _bind("RandomPathFilter", self._FORMS, _gather_varargs(args, 1), keywords,
                        defaults=dict(rng=None, extensions=None, max_paths=0))
        self._set_random_part(**options)

    def _set_random_part(self, rng, extensions, max_paths):
        self.rng, self.extensions, self.max_paths = _rng(rng), _names(extensions), max_paths
        self._keep = _extension_filter(self.extensions)

    def filter(self, paths):
        """The kept paths: shuffled, allowed extensions, at most ``max_paths``."""
        paths = [Path(p) for p in paths]
        self.rng.shuffle(paths)
        paths = [p for p in paths if self._keep(p)]
        return paths[:self.max_paths] if self.max_paths > 0 else paths


class BalancedPathFilter(RandomPathFilter):
    """DL4J's balanced filter: the same number of paths per label, interleaved label by label.

    After the random shuffle the paths are grouped by label; every label keeps as many as the
    rarest label has (or ``max_paths_per_label`` if smaller), so classes are balanced and data
    of the larger classes is dropped. The output interleaves labels (a, b, c, a, b, c, ...), so
    any consecutive cut, such as ``sample``'s 80/20, is balanced too. ``labels``, if given,
    keeps only paths with those labels; ``max_labels`` keeps the first labels met.

    DL4J's constructors (``rng`` first, then):
    ``(extensions, label_generator)``, ``(label_generator, max_paths_per_label)``,
    ``(extensions, label_generator, max_paths_per_label)``,
    ``(label_generator, max_paths, max_labels, max_paths_per_label)``,
    ``(extensions, label_generator, max_labels, max_paths_per_label)``,
    ``(extensions, label_generator, max_paths, max_labels, min_paths_per_label,
    max_paths_per_label, *labels)``; ``(rng)`` and ``(rng, extensions)`` too, and every name
    works as a keyword. The label generator defaults to ``ParentPathLabelGenerator()``.
    """

    _FULL = ("rng", "extensions", "label_generator", "max_paths", "max_labels",
             "min_paths_per_label", "max_paths_per_label")
    _FORMS = ((), ("rng",), ("rng", "extensions"),
              ("rng", "extensions", "label_generator"),
              ("rng", "label_generator", "max_paths_per_label"),
              ("rng", "extensions", "label_generator", "max_paths_per_label"),
              ("rng", "label_generator", "max_paths", "max_labels", "max_paths_per_label"),
              ("rng", "extensions", "label_generator", "max_labels", "max_paths_per_label"),
              _FULL, (*_FULL, "labels"))

    def __init__(self, *args, **keywords):
        options = _bind("BalancedPathFilter", self._FORMS, _gather_varargs(args, len(self._FULL)),
                        keywords, defaults=dict(
                            rng=None, extensions=None, label_generator=None, max_paths=0,
                            max_labels=0, min_paths_per_label=0, max_paths_per_label=0,
                            labels=None))
        self._set_random_part(options["rng"], options["extensions"], options["max_paths"])
        self.label_generator = options["label_generator"] or ParentPathLabelGenerator()
        self.max_labels = options["max_labels"]
        self.min_paths_per_label = options["min_paths_per_label"]
        self.max_paths_per_label = options["max_paths_per_label"]
        self.labels = _names(options["labels"])

    def filter(self, paths):
        by_label = {}
        for path in super().filter(paths):
            label = self.label_generator.get_label_for_path(path)
            if self.labels and str(label) not in self.labels:
                continue
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


# -- records and batches -------------------------------------------------------------------------
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
