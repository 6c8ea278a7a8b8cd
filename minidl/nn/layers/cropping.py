"""Cropping2D (DL4J's): cuts rows and columns off the borders of a feature map (Keras'
Cropping2D)."""

import dataclasses

from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.input_type import InputType
from minidl.nn.layers.base import Layer
from minidl.ops.padding import padding4


@with_builder
@dataclasses.dataclass
class Cropping2D(Layer):
    """Cuts ``cropping`` = (top, bottom, left, right) pixels off a feature map's borders:
    [batch, c, h, w] -> [batch, c, h - top - bottom, w - left - right]; no parameters.

    One int crops all four sides, a pair (vertical, horizontal) crops symmetrically, as
    DL4J's ``Cropping2D(int...)``.
    """

    cropping: tuple = (0, 0, 0, 0)

    builder_args = ("cropping",)
    input_kind = "convolutional"

    def __post_init__(self):
        # JSON gives a list back; ints and pairs widen to the four sides
        self.cropping = padding4(self.cropping, "cropping")

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        top, bottom, left, right = self.cropping
        height = input_type.height - top - bottom
        width = input_type.width - left - right
        if height < 1 or width < 1:
            raise ValueError(f"layer {self.describe()}: cropping {self.cropping} leaves nothing "
                             f"of a {input_type.height}x{input_type.width} input")
        return InputType.convolutional(height, width, input_type.channels)

    def forward(self, x, params, ctx):
        self._check_input(x, 4, "[batch, channels, height, width]")
        top, bottom, left, right = self.cropping
        height, width = x.shape[2:]
        return self._input_dropout(x, ctx)[:, :, top:height - bottom, left:width - right]
