"""Normalizers and image pre-processors (DL4J's ``DataNormalization`` family).

Each one has:

- ``fit(data)``: learn statistics from a DataSet or a DataSetIterator, which is left reset for
  the next epoch as in DL4J (a no-op for the fixed image scalers);
- ``transform(features)``: a new, normalised array; ``transform(dataset)`` normalises a DataSet
  in place and returns it;
- ``pre_process(dataset)``: the same in place, so a normalizer can be an iterator's
  pre-processor (``iterator.set_pre_processor(normalizer)``);
- ``revert_features(features)`` / ``revert(dataset)``: undo the transform;
- ``state()`` / ``DataNormalization.from_state(settings, arrays)``: the normalizer as plain data
  (a JSON-ready dict of settings, a dict of NumPy arrays) and back, for saving it beside a model
  (``ModelSerializer.write_model(..., normalizer=...)``) or a featurized dataset.

``pre_process`` replaces ``dataset.features`` by a new array instead of writing into it, so it
never changes an array the DataSet shares with someone else. Integer input (uint8 images)
becomes float32; float input keeps its dtype.

Which axis the statistics are per: for [batch, n] features, per column; for images
[batch, channels, height, width], per channel (DL4J flattens images to [batch*h*w, channels]
before computing them); for [batch, size, time] sequences, per feature ``size``.
"""

import numpy as np

from minidl.backend import get_array_module, to_cpu
from minidl.data.dataset import DataSet
from minidl.data.iterators import reset_if_supported
from minidl.naming import Dl4jNames

STD_FLOOR = 1e-5  # ND4J's EPS_THRESHOLD: a constant column is divided by this, not by 0


def _as_float(x):
    xp = get_array_module(x)
    x = xp.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(xp.float32)


def _stat_axes(x):
    """The axes statistics are reduced over: all but the column / channel axis 1."""
    if x.ndim < 2:
        raise ValueError(f"normalizer: expected features with a batch axis and at least one "
                         f"feature axis, got shape {tuple(x.shape)}")
    return (0,) + tuple(range(2, x.ndim))


def _broadcastable(stat, x):
    """``stat`` (one value per column/channel) shaped to broadcast against ``x``."""
    xp = get_array_module(x)
    stat = xp.asarray(stat, dtype=x.dtype)
    if x.ndim < 2 or x.shape[1] != stat.shape[0]:
        raise ValueError(f"normalizer was fitted on {stat.shape[0]} columns/channels but the "
                         f"features have shape {tuple(x.shape)} (axis 1 must be "
                         f"{stat.shape[0]})")
    return stat.reshape((1, -1) + (1,) * (x.ndim - 2))


def _datasets(data):
    """The DataSets of ``data``: a DataSet, or every batch of an iterator.

    As DL4J's ``fit(DataSetIterator)``, an iterator is reset before and after: the usual
    ``normalizer.fit(train_iter)`` followed by a training loop over ``train_iter`` must see the
    whole first epoch, not an exhausted iterator.
    """
    if isinstance(data, DataSet):
        yield data
        return
    reset_if_supported(data)
    yield from data
    reset_if_supported(data)


class DataNormalization(Dl4jNames):
    """Base of the normalizers; subclasses implement ``_transform`` / ``_revert``.

    A subclass lists the attributes that make up its state: ``_settings`` (scalars, stored as
    JSON) and ``_arrays`` (statistics, stored as arrays; an attribute that is None is left out).
    ``state()`` and ``from_state()`` read these lists, so no class writes its own save code.
    """

    fit_labels = False
    _settings = ("fit_labels",)
    _arrays = ()
    _types = {}  # class name -> class, for from_state(); filled by __init_subclass__

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        DataNormalization._types[cls.__name__] = cls

    def fit(self, data):
        """Learn the statistics from ``data`` (a DataSet or an iterator); returns self."""
        return self

    def _transform(self, x, labels=False):
        raise NotImplementedError

    def _revert(self, x, labels=False):
        raise NotImplementedError

    def transform(self, data):
        """A normalised copy of a features array, or a DataSet normalised in place."""
        if isinstance(data, DataSet):
            self.pre_process(data)
            return data
        return self._transform(_as_float(data))

    def pre_process(self, dataset):
        """Normalize ``dataset`` in place (its labels too when fitted on labels)."""
        dataset.features = self._transform(_as_float(dataset.features))
        if self.fit_labels and dataset.labels is not None:
            dataset.labels = self._transform(_as_float(dataset.labels), labels=True)

    pre_process_features = transform

    def revert_features(self, features):
        """Undo the normalization of a features array (a copy)."""
        return self._revert(_as_float(features))

    def revert_labels(self, labels):
        """Undo the normalization of a labels array (as is when labels are not fitted)."""
        return self._revert(_as_float(labels), labels=True) if self.fit_labels else labels

    def revert(self, dataset):
        """Undo ``pre_process`` on a DataSet, in place."""
        dataset.features = self.revert_features(dataset.features)
        if self.fit_labels and dataset.labels is not None:
            dataset.labels = self.revert_labels(dataset.labels)
        return dataset

    def fit_label(self, fit_labels):
        """Also normalise (and fit on) the labels, for regression (DL4J's ``fitLabel``)."""
        self.fit_labels = bool(fit_labels)
        return self

    def is_fit_label(self):
        """Whether labels are normalized too."""
        return self.fit_labels

    # -- saving ----------------------------------------------------------------------------
    def state(self):
        """``(settings, arrays)``: settings a JSON-ready dict holding ``"type"`` (the class name)
        and every scalar setting; arrays the statistics as NumPy arrays on the host (e.g.
        NormalizerStandardize's ``mean`` / ``std``, shape [columns or channels])."""
        missing = self._missing_state()
        if missing:
            raise ValueError(f"cannot save an unfitted {type(self).__name__} (it has no "
                             f"{', '.join(missing)}): call fit(data) first")
        settings = {"type": type(self).__name__}
        settings.update({name: getattr(self, name) for name in self._settings})
        arrays = {name: to_cpu(getattr(self, name)) for name in self._arrays
                  if getattr(self, name) is not None}
        return settings, arrays

    @classmethod
    def from_state(cls, settings, arrays=None):
        """The normalizer ``state()`` described: the class named by ``settings["type"]``, with
        its settings and arrays set. Raises ValueError for an unknown type or missing fields."""
        arrays = dict(arrays or {})
        normalizer_type = cls._types.get(settings.get("type"))
        if normalizer_type is None or not issubclass(normalizer_type, cls):
            known = sorted(name for name, t in cls._types.items() if issubclass(t, cls))
            raise ValueError(f"unknown {cls.__name__} type {settings.get('type')!r} (known: "
                             f"{', '.join(known)})")
        expected = {"type", *normalizer_type._settings}
        if set(settings) != expected or not set(arrays) <= set(normalizer_type._arrays):
            raise ValueError(f"{normalizer_type.__name__}: expected settings {sorted(expected)} "
                             f"and arrays among {list(normalizer_type._arrays)}, got "
                             f"{sorted(settings)} and {sorted(arrays)}")
        # Built without __init__: every attribute the class keeps is set from the state below.
        normalizer = normalizer_type.__new__(normalizer_type)
        for name in normalizer_type._settings:
            setattr(normalizer, name, settings[name])
        for name in normalizer_type._arrays:
            setattr(normalizer, name, np.asarray(arrays[name]) if name in arrays else None)
        missing = normalizer._missing_state()
        if missing:
            raise ValueError(f"{normalizer_type.__name__}: the saved state lacks "
                             f"{', '.join(missing)}")
        return normalizer

    def _missing_state(self):
        """The attributes this normalizer still needs before it can be saved (fitted ones)."""
        return []


class _RunningMoments:
    """Mean and population variance per column, merged batch by batch (Chan et al.'s parallel
    algorithm, as ND4J's DistributionStats), in float64 on the CPU."""

    def __init__(self):
        self.count, self.mean, self.var = 0, None, None

    def add(self, x):
        x = to_cpu(x).astype(np.float64)
        axes = _stat_axes(x)
        n = int(np.prod([x.shape[a] for a in axes]))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        if self.mean is None:
            self.count, self.mean, self.var = n, mean, var
            return
        if mean.shape != self.mean.shape:
            raise ValueError(f"normalizer.fit: batches with {self.mean.shape[0]} and "
                             f"{mean.shape[0]} columns/channels")
        total = self.count + n
        delta = mean - self.mean
        self.var = (self.var * self.count + var * n + delta ** 2 * self.count * n / total) / total
        self.mean = self.mean + delta * n / total
        self.count = total


class NormalizerStandardize(DataNormalization):
    """Zero mean, unit variance: ``(x - mean) / std`` per column (per channel for images).

    ``std`` is the population standard deviation, floored at 1e-5 as in ND4J.
    """

    _arrays = ("mean", "std", "label_mean", "label_std")

    def __init__(self, mean=None, std=None):
        # statistics live on the host, as fit() computes them (they may be given on the GPU)
        self.mean = None if mean is None else to_cpu(mean).astype(np.float64)
        self.std = None if std is None else np.maximum(to_cpu(std).astype(np.float64), STD_FLOOR)
        self.label_mean = self.label_std = None

    def fit(self, data):
        """Learn mean and std from a DataSet, or from every batch of an iterator."""
        features, labels = _RunningMoments(), _RunningMoments()
        for dataset in _datasets(data):
            features.add(dataset.features)
            if self.fit_labels:
                labels.add(dataset.labels)
        if features.mean is None:
            raise ValueError("NormalizerStandardize.fit: no data (the iterator was empty)")
        self.mean, self.std = features.mean, np.maximum(np.sqrt(features.var), STD_FLOOR)
        if self.fit_labels:
            self.label_mean = labels.mean
            self.label_std = np.maximum(np.sqrt(labels.var), STD_FLOOR)
        return self

    def _stats(self, labels):
        mean, std = (self.label_mean, self.label_std) if labels else (self.mean, self.std)
        if mean is None:
            raise ValueError("NormalizerStandardize is not fitted: call fit(data) first")
        return mean, std

    def _transform(self, x, labels=False):
        mean, std = self._stats(labels)
        return (x - _broadcastable(mean, x)) / _broadcastable(std, x)

    def _revert(self, x, labels=False):
        mean, std = self._stats(labels)
        return x * _broadcastable(std, x) + _broadcastable(mean, x)

    def _missing_state(self):
        needed = ("mean", "std") + (("label_mean", "label_std") if self.fit_labels else ())
        return [name for name in needed if getattr(self, name) is None]

    def get_mean(self):
        """The fitted mean per feature."""
        return self.mean

    def get_std(self):
        """The fitted standard deviation per feature."""
        return self.std


class ImagePreProcessingScaler(DataNormalization):
    """Pixel values 0..2^max_bits - 1 scaled linearly to [a, b] (default [0, 1])."""

    _settings = DataNormalization._settings + ("min_range", "max_range", "max_pixel_value")

    def __init__(self, a=0.0, b=1.0, max_bits=8):
        if not a < b:
            raise ValueError(f"ImagePreProcessingScaler: need a < b, got a={a}, b={b}")
        self.min_range, self.max_range = float(a), float(b)
        self.max_pixel_value = float(2 ** int(max_bits) - 1)

    def _transform(self, x, labels=False):
        return x / x.dtype.type(self.max_pixel_value) * x.dtype.type(
            self.max_range - self.min_range) + x.dtype.type(self.min_range)

    def _revert(self, x, labels=False):
        return (x - x.dtype.type(self.min_range)) / x.dtype.type(
            self.max_range - self.min_range) * x.dtype.type(self.max_pixel_value)


VGG_MEAN_OFFSET_BGR = (103.939, 116.779, 123.68)


class VGG16ImagePreProcessor(DataNormalization):
    """VGG16's ImageNet preprocessing: subtract the BGR channel means [103.939, 116.779, 123.68]
    from NCHW images with BGR channels in 0..255 (as DL4J's loader gives them)."""

    def _means(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16ImagePreProcessor expects NCHW images with 3 (BGR) channels, "
                             f"got shape {tuple(x.shape)}")
        return _broadcastable(np.asarray(VGG_MEAN_OFFSET_BGR), x)

    def _transform(self, x, labels=False):
        return x - self._means(x)

    def _revert(self, x, labels=False):
        return x + self._means(x)
