"""Which image files a DL4J/DataVec pipeline reads: ``FileSplit`` (every image under a folder),
``InputSplit`` (a list of files), the path filters that sample them (``RandomPathFilter``,
``BalancedPathFilter``: the same count per label) and ``ParentPathLabelGenerator`` (a file's
label is its folder's name). ``minidl.data.records`` reads the files they list.

The splits and filters take DL4J's constructor overloads (``FileSplit(root, formats, False)``,
``RandomPathFilter(rng, "jpg", "png")``, ...), matched by argument kinds in ``_bind``.
Extensions match case-sensitively, as in DataVec (its lists hold both cases).
"""

import math
import numbers
import random
from collections.abc import Collection
from pathlib import Path

import numpy as np

from minidl.data.image import BaseImageLoader
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
