"""RescalingLayer: x * scale + offset, a fixed affine map (Keras' Rescaling and Normalization)."""

import dataclasses

import numpy as np

from minidl.autograd import Tensor
from minidl.backend import get_array_module
from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.base import Layer


@with_builder
@dataclasses.dataclass
class RescalingLayer(Layer):
    """y = x * scale + offset, on [batch, n] or [batch, c, h, w]; no trained parameters.

    ``scale`` and ``offset`` are numbers, or one value per channel (per feature of a
    [batch, n] input): lists broadcast along axis 1. Keras' ``Rescaling(scale, offset)`` is
    this layer; so is its adapted ``Normalization``, (x - mean) / sqrt(var), with scale
    1 / sqrt(var) and offset -mean / sqrt(var).
    """

    scale: object = 1.0
    offset: object = 0.0

    builder_args = ("scale", "offset")

    def __post_init__(self):
        self.scale, self.offset = _plain(self.scale), _plain(self.offset)

    def output_type(self, input_type):
        size = input_type.channels if input_type.is_convolutional else input_type.flat_size()
        for field in ("scale", "offset"):
            value = getattr(self, field)
            if isinstance(value, list) and len(value) not in (1, size):
                raise ValueError(f"layer {self.describe()}: {len(value)} {field} values for "
                                 f"{size} channels of {input_type}")
        return input_type

    def _broadcast(self, value, x):
        if not isinstance(value, list):
            return value
        xp = get_array_module(x)
        shape = (1, len(value)) + (1,) * (x.ndim - 2)
        return Tensor(xp.asarray(value, dtype=x.dtype).reshape(shape))

    def forward(self, x, params, ctx):
        x = self._input_dropout(x, ctx)
        return x * self._broadcast(self.scale, x) + self._broadcast(self.offset, x)


def _plain(value):
    """A number, or a list of numbers (JSON-ready) for one value per channel."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else [float(v) for v in array.ravel()]
