"""DropoutLayer: dropout as a layer of its own."""

import dataclasses

from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.base import Layer


@with_builder
@dataclasses.dataclass
class DropoutLayer(Layer):
    """Applies dropout (retain probability ``dropout``) in training; identity in inference."""

    builder_args = ("dropout",)

    def forward(self, x, params, ctx):
        return self._input_dropout(x, ctx)
