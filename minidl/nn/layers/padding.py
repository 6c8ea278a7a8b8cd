"""ZeroPaddingLayer: a border of zeros around a feature map (Keras' ZeroPadding2D)."""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.input_type import InputType
from minidl.nn.layers.base import Layer
from minidl.ops.padding import padding4


@with_builder
@dataclasses.dataclass
class ZeroPaddingLayer(Layer):
    """Pads each image with zeros: [batch, c, h, w] -> [batch, c, top + h + bottom,
    left + w + right]; no parameters.

    ``padding`` is DL4J's (top, bottom, left, right); one int pads all four sides, a pair
    (vertical, horizontal) pads symmetrically. ``ZeroPaddingLayer.Builder(3, 3)`` and
    ``ZeroPaddingLayer.Builder(0, 1, 0, 1)`` take the same forms, as DL4J's ``Builder(int...)``.
    ResNet50's stem pads 3 before its 7x7 convolution and 1 before its max pool this way.
    """

    padding: tuple = (0, 0, 0, 0)

    input_kind = "convolutional"

    def __post_init__(self):
        self.padding = padding4(self.padding)  # JSON gives a list back; ints and pairs widen

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        top, bottom, left, right = self.padding
        return InputType.convolutional(input_type.height + top + bottom,
                                       input_type.width + left + right, input_type.channels)

    def forward(self, x, params, ctx):
        self._check_input(x, 4, "[batch, channels, height, width]")
        return ops.zero_pad2d(self._input_dropout(x, ctx), self.padding)


class _Builder(ZeroPaddingLayer.Builder):
    """DL4J's ``Builder(int...)``: every positional int is part of the one ``padding``."""

    def __init__(self, *padding, **settings):
        super().__init__(**settings)
        if padding:
            self._set("padding", padding)


_Builder.__name__, _Builder.__qualname__ = "Builder", "ZeroPaddingLayer.Builder"
ZeroPaddingLayer.Builder = _Builder
