"""ActivationLayer: an activation function as a layer of its own."""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import Activation
from minidl.nn.layers.base import Layer


@with_builder
@dataclasses.dataclass
class ActivationLayer(Layer):
    """Applies an activation function; no parameters; any input shape."""

    activation: Activation = None

    builder_args = ("activation",)

    def __post_init__(self):
        if self.activation is not None:
            self.activation = Activation.parse(self.activation)

    def apply_defaults(self, defaults):
        super().apply_defaults(defaults)
        if self.activation is None:
            self.activation = Activation.parse(defaults.get("activation") or Activation.SIGMOID)

    def forward(self, x, params, ctx):
        return ops.activation(self._input_dropout(x, ctx), self.activation.value)
