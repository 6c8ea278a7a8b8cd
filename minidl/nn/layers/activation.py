"""ActivationLayer: an activation function as a layer of its own."""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import Activation
from minidl.nn.layers.base import Layer
from minidl.ops.activations import general_relu


@with_builder
@dataclasses.dataclass
class ActivationLayer(Layer):
    """Applies an activation function; no parameters; any input shape.

    ``alpha`` is LEAKYRELU's slope (default 0.01) or ELU's scale (default 1.0), as DL4J's
    ``ActivationLReLU(alpha)`` / ``ActivationELU(alpha)``. For RELU, ``max_value``,
    ``threshold`` and ``alpha`` (the slope below the threshold) make DL4J's
    ``ActivationReLU(maxValue, threshold, negativeSlope)``, Keras' ``ReLU`` layer:
    ``max_value`` if x >= max_value, x if threshold <= x < max_value, alpha (x - threshold)
    below.
    """

    activation: Activation = None
    alpha: float = None
    max_value: float = None
    threshold: float = None

    builder_args = ("activation",)

    def __post_init__(self):
        if self.activation is not None:
            self.activation = Activation.parse(self.activation)

    def apply_defaults(self, defaults):
        super().apply_defaults(defaults)
        if self.activation is None:
            self.activation = Activation.parse(defaults.get("activation") or Activation.SIGMOID)

    def _is_general_relu(self):
        return self.activation == Activation.RELU and any(
            v is not None for v in (self.alpha, self.max_value, self.threshold))

    def elementwise(self):
        """(name, alpha) of this layer's activation when an op can apply it inside itself
        (elementwise, not softmax, not the general ReLU), else None."""
        name = self.activation.value
        if self._is_general_relu() or name not in ops.activations.ACTIVATIONS:
            return None
        return name, self.alpha

    def forward(self, x, params, ctx):
        x = self._input_dropout(x, ctx)
        if self._is_general_relu():
            return general_relu(x, self.max_value, self.alpha or 0.0, self.threshold or 0.0)
        return ops.activation(x, self.activation.value, self.alpha)
