"""DL4J's training-configuration rules (reference/modern-cnns.md §4.2).

Without ``enforce_training_config`` (or without a training config in the file) the imported
network keeps Keras' last layer as it is: a softmax Dense stays a DenseLayer, which the
transfer API then replaces (DL4J's transfer guide). With it, the compiled loss turns each
output into an OutputLayer (a Dense) or LossLayer (an Activation) with the matching DL4J loss,
and the optimizer becomes the updater; a setting that cannot be carried over (a loss with
``from_logits``, loss weights, an unknown optimizer, a learning-rate schedule, a regularizer)
is an error, never dropped.
"""

import dataclasses
import warnings

from minidl.learning.updaters import Adam, Nesterovs, RmsProp, Sgd
from minidl.modelimport.keras.errors import UnsupportedKerasConfigurationException
from minidl.nn.conf.enums import LossFunction
from minidl.nn.layers import ActivationLayer, DenseLayer, LossLayer, OutputLayer

LOSSES = {
    "categorical_crossentropy": LossFunction.MCXENT,
    "sparse_categorical_crossentropy": LossFunction.NEGATIVELOGLIKELIHOOD,
    "mse": LossFunction.MSE, "mean_squared_error": LossFunction.MSE,
    "mae": LossFunction.MEAN_ABSOLUTE_ERROR,
    "mean_absolute_error": LossFunction.MEAN_ABSOLUTE_ERROR,
    "binary_crossentropy": LossFunction.XENT,
}
# Keras 3 serialises a loss object by class: CategoricalCrossentropy -> categorical_crossentropy
_CLASS_LOSSES = {"CategoricalCrossentropy": "categorical_crossentropy",
                 "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                 "MeanSquaredError": "mse", "MeanAbsoluteError": "mae",
                 "BinaryCrossentropy": "binary_crossentropy"}
_LOSS_DEFAULTS = {"from_logits": False, "label_smoothing": 0.0, "axis": -1}


def _unsupported(path, what):
    raise UnsupportedKerasConfigurationException(
        f"{path}: training config: {what}; import with enforce_training_config=False to get the "
        f"network without it")


def _loss(spec, path):
    """One Keras loss (a name or a serialised loss object) -> LossFunction."""
    if isinstance(spec, dict):
        config = spec.get("config") or {}
        for key, default in _LOSS_DEFAULTS.items():
            if config.get(key, default) not in (default, None):
                _unsupported(path, f"loss {spec.get('class_name')} with {key}={config[key]!r}")
        spec = _CLASS_LOSSES.get(spec.get("class_name"), spec.get("class_name"))
    name = str(spec).lower()
    if name not in LOSSES:
        _unsupported(path, f"loss {spec!r} (supported: {', '.join(sorted(LOSSES))})")
    return LOSSES[name]


def losses(training, outputs, path):
    """{output vertex: LossFunction} from a training config and the Keras output names."""
    if training.get("loss_weights") not in (None, [], {}):
        _unsupported(path, f"loss_weights {training['loss_weights']!r}")
    spec = training.get("loss")
    if spec is None:
        _unsupported(path, "no loss")
    if isinstance(spec, dict) and "class_name" not in spec:  # {output name: loss}
        return {name: _loss(spec[name], path) for name in outputs}
    if isinstance(spec, list):
        if len(spec) != len(outputs):
            _unsupported(path, f"{len(spec)} losses for {len(outputs)} outputs")
        return {name: _loss(s, path) for name, s in zip(outputs, spec)}
    return {name: _loss(spec, path) for name in outputs}


def _sgd(c):
    momentum = float(c.get("momentum", 0.0) or 0.0)
    if momentum == 0:
        return Sgd(c["learning_rate"])
    if not c.get("nesterov", False):
        return None  # DL4J has no plain (non-Nesterov) momentum updater
    return Nesterovs(c["learning_rate"], momentum)


def _rmsprop(c):
    if c.get("centered") or float(c.get("momentum", 0.0) or 0.0):
        return None
    return RmsProp(c["learning_rate"], c.get("rho", 0.9), c.get("epsilon", 1e-7))


OPTIMIZERS = {
    "sgd": _sgd,
    "adam": lambda c: None if c.get("amsgrad") else Adam(
        c["learning_rate"], c.get("beta_1", 0.9), c.get("beta_2", 0.999), c.get("epsilon", 1e-7)),
    "rmsprop": _rmsprop,
}


def updater(training, path):
    """The DL4J updater of the compiled optimizer; None when the file names none."""
    spec = training.get("optimizer_config") or training.get("optimizer")
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"class_name": spec, "config": {}}
    name, config = str(spec.get("class_name")).lower(), dict(spec.get("config") or {})
    config.setdefault("learning_rate", config.pop("lr", {"sgd": 0.01}.get(name, 0.001)))
    if not isinstance(config["learning_rate"], (int, float)):
        _unsupported(path, f"optimizer {spec.get('class_name')} with a learning-rate schedule")
    make = OPTIMIZERS.get(name)
    result = make(config) if make else None
    if result is None:
        _unsupported(path, f"optimizer {spec.get('class_name')} with {config} (supported: SGD "
                           f"without momentum or with Nesterov momentum, Adam without amsgrad, "
                           f"RMSprop without momentum or centering)")
    return result


def check_regularizers(layers, path, enforce):
    """A Keras regularizer has no exact DL4J counterpart here: an error when enforcing the
    training config, a warning (it only acts in training) otherwise."""
    for layer in layers:
        for key, value in layer.config.items():
            if key.endswith("_regularizer") and value is not None:
                message = f"layer {layer.name!r} has a {key} {value.get('class_name', value)!r}"
                if enforce:
                    _unsupported(path, message + " (regularizers are not imported)")
                warnings.warn(f"{path}: {message}, which is not imported", stacklevel=4)


def output_layer(layer, loss, path, name):
    """The OutputLayer (for a DenseLayer) or LossLayer (for an ActivationLayer) of ``loss``."""
    if type(layer) is DenseLayer:
        fields = {f.name: getattr(layer, f.name) for f in dataclasses.fields(DenseLayer)}
        return OutputLayer(**fields, loss=loss)
    if type(layer) is ActivationLayer:
        return LossLayer(loss=loss, activation=layer.activation, name=layer.name)
    raise UnsupportedKerasConfigurationException(
        f"{path}: enforce_training_config: output {name!r} is a {type(layer).__name__}; a loss "
        f"goes on a Dense or an Activation layer")
