"""LayerSettings: the training settings a layer has, and that globals or fine-tuning may set.

The same fields appear in three places that DL4J keeps separate: on a layer, as the global
defaults of ``NeuralNetConfiguration.Builder`` (copied into every layer that leaves them unset),
and in a ``FineTuneConfiguration`` (imposed on the layers of a pretrained network). One dataclass
holds them so the three cannot drift apart. ``None`` always means "not set here".
"""

import dataclasses
import enum

from minidl.nn.conf.enums import Activation, GradientNormalization

# The L1 / L2 / weight-decay coefficients, for weights and for biases.
REGULARIZATION_FIELDS = (("l1", "l2", "weight_decay"), ("l1_bias", "l2_bias", "weight_decay_bias"))


@dataclasses.dataclass
class LayerSettings:
    """Activation, initialisation, updaters, regularization and gradient normalisation."""

    activation: Activation = None
    weight_init: object = None  # a WeightInit or a Distribution
    bias_init: float = None
    updater: object = None  # an IUpdater (Sgd, Adam, ...)
    bias_updater: object = None  # defaults to the updater
    l1: float = None
    l2: float = None
    l1_bias: float = None
    l2_bias: float = None
    weight_decay: float = None
    weight_decay_bias: float = None
    # WeightDecay's apply_lr: whether the decay is scaled by the learning rate (DL4J's default).
    weight_decay_apply_lr: bool = None
    weight_decay_bias_apply_lr: bool = None
    gradient_normalization: GradientNormalization = None
    gradient_normalization_threshold: float = None

    def __post_init__(self):
        from minidl.nn.conf.weight_init import WeightInit
        self.activation = _parse(Activation, self.activation)
        self.gradient_normalization = _parse(GradientNormalization, self.gradient_normalization)
        if isinstance(self.weight_init, str):
            self.weight_init = WeightInit.parse(self.weight_init)
        for name in ("weight_decay", "weight_decay_bias"):
            self._split_weight_decay(name)

    def _split_weight_decay(self, name):
        """DL4J's ``weightDecay(coeff, applyLR)`` arrives as a pair: keep both halves.

        A coefficient set on its own means ``apply_lr=True``, as ``weightDecay(coeff)`` does in
        DL4J, so a layer's own weight decay never inherits the global flag.
        """
        flag = f"{name}_apply_lr"
        value = getattr(self, name)
        if isinstance(value, (tuple, list)):
            if len(value) != 2 or not isinstance(value[1], bool):
                raise ValueError(f"{name}: expected a coefficient or (coefficient, apply_lr), "
                                 f"got {value!r}")
            value, apply_lr = value
            setattr(self, name, value)
            setattr(self, flag, apply_lr)
        if value is not None and getattr(self, flag) is None:
            setattr(self, flag, True)


def _parse(enum_class, value):
    # None and other enums' members (FineTuneConfiguration's REMOVE marker) pass through.
    if value is None or (isinstance(value, enum.Enum) and not isinstance(value, enum_class)):
        return value
    return enum_class.parse(value)


def layer_setting_names():
    """Names of the LayerSettings fields: what a layer, the globals and fine-tuning may set."""
    return [f.name for f in dataclasses.fields(LayerSettings)]
