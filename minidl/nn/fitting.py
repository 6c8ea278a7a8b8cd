"""What ``fit`` needs besides the network: reading DL4J's overloaded arguments, telling one
minibatch from a source of minibatches, and DL4J's per-layer gradient normalisation."""

import numbers

from minidl.backend import get_array_module
from minidl.nn.conf.enums import GradientNormalization


def is_dataset(obj):
    """A DataSet or MultiDataSet: features with their labels."""
    return hasattr(obj, "features") and hasattr(obj, "labels")


def is_batch_source(obj):
    """An iterator of minibatches: a DataSetIterator or MultiDataSetIterator, a generator, or a
    list of DataSets. Not one minibatch, an array, or a list of arrays (a graph's inputs)."""
    if isinstance(obj, (list, tuple)):
        return all(is_dataset(item) for item in obj)
    if is_dataset(obj) or hasattr(obj, "shape") or isinstance(obj, (str, bytes)):
        return False
    return hasattr(obj, "reset") or hasattr(obj, "__iter__")


def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def fit_arguments(data, labels, epochs):
    """(labels, epochs) of a ``fit`` call, DL4J's ``fit(iterator, int numEpochs)`` read as such;
    a call that means nothing clear raises instead of failing deep in a layer."""
    carries_labels = is_dataset(data) or is_batch_source(data)
    if _is_count(labels):
        if not carries_labels:
            raise TypeError(f"fit({type(data).__name__}, {labels}): labels must be an array; a "
                            f"number of epochs follows an iterator or a DataSet, as in DL4J's "
                            f"fit(iterator, num_epochs)")
        if epochs is not None:
            raise TypeError(f"fit: the number of epochs is given twice ({labels} and "
                            f"epochs={epochs})")
        labels, epochs = None, labels
    if carries_labels and labels is not None:
        raise TypeError(f"fit: a {type(data).__name__} carries its own labels; got labels "
                        f"({type(labels).__name__}) too")
    if not carries_labels and labels is None:
        raise TypeError(f"fit({type(data).__name__}): features need their labels: "
                        f"fit(features, labels), or a DataSet, or an iterator")
    epochs = 1 if epochs is None else epochs
    if not _is_count(epochs) or epochs < 1:
        raise ValueError(f"fit: the number of epochs must be a positive integer, got {epochs!r}")
    return labels, int(epochs)


def check_repeatable(source, epochs):
    """Several epochs need an iterator that starts again (as DL4J checks resetSupported())."""
    if epochs == 1:
        return
    if hasattr(source, "reset_supported"):
        repeatable = source.reset_supported()
    else:
        repeatable = hasattr(source, "reset") or iter(source) is not source
    if not repeatable:
        raise ValueError(f"fit: {epochs} epochs need an iterator that can start again; this "
                         f"{type(source).__name__} cannot be reset (pass a list, or fit one epoch "
                         f"at a time with a fresh iterator)")


def flatten_listeners(groups):
    """Listeners given one by one or as lists, None left out (DL4J's setListeners(null))."""
    return [listener for group in groups
            for listener in (group if isinstance(group, (list, tuple)) else [group])
            if listener is not None]


def normalize_gradients(layer, grads):
    """DL4J's per-layer gradient normalisation, applied before regularization and updater."""
    mode = getattr(layer, "gradient_normalization", None)
    if not grads or mode in (None, GradientNormalization.NONE):
        return grads
    threshold = layer.gradient_normalization_threshold or 1.0
    xp = get_array_module(*grads.values())
    if mode == GradientNormalization.ClipElementWiseAbsoluteValue:
        return {k: xp.clip(g, -threshold, threshold) for k, g in grads.items()}
    if mode in (GradientNormalization.RenormalizeL2PerParamType,
                GradientNormalization.ClipL2PerParamType):
        groups = [{k: g} for k, g in grads.items()]
    else:
        groups = [grads]
    out = {}
    for group in groups:
        norm = float(sum(float((g * g).sum()) for g in group.values())) ** 0.5
        if mode in (GradientNormalization.RenormalizeL2PerLayer,
                    GradientNormalization.RenormalizeL2PerParamType):
            scale = 1.0 / norm if norm > 0 else 1.0
        else:
            scale = threshold / norm if norm > threshold else 1.0
        out.update({k: g * scale for k, g in group.items()})
    return out
