"""Pooling layers, no parameters: SubsamplingLayer (windowed) and GlobalPoolingLayer."""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import ConvolutionMode, PoolingType
from minidl.nn.conf.input_type import InputType
from minidl.nn.layers.base import Layer
from minidl.nn.layers.window import SlidingWindow


@with_builder
@dataclasses.dataclass
class SubsamplingLayer(Layer, SlidingWindow):
    """Max, average, sum or p-norm pooling: [batch, c, h, w] -> [batch, c, oh, ow]; no
    parameters.

    ``avg_pool_include_pad_in_divisor`` (AVG only): True divides every window by the kernel area,
    counting padded zeros; False (DL4J's default since 1.0.0-beta5) divides by the number of real
    pixels under the window. SUM adds the real pixels, whatever the flag; PNORM is
    (sum of |x|^pnorm)^(1/pnorm) over them.
    """

    pooling_type: PoolingType = PoolingType.MAX
    kernel_size: tuple = (1, 1)
    stride: tuple = (2, 2)
    padding: tuple = (0, 0)
    convolution_mode: ConvolutionMode = None
    pnorm: int = 2
    # DL4J's configurations from before the flag (1.0.0-beta4 and earlier) meant True, so JSON
    # without the field reads as True (serde's "legacy_default"); new layers get False.
    avg_pool_include_pad_in_divisor: bool = dataclasses.field(
        default=False, metadata={"legacy_default": True})

    builder_args = ("pooling_type", "kernel_size", "stride", "padding")
    pair_fields = ("kernel_size", "stride", "padding")
    input_kind = "convolutional"

    def __post_init__(self):
        self.pooling_type = PoolingType.parse(self.pooling_type)
        self._parse_window_fields()

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        oh, ow = self.output_size(input_type.height, input_type.width)
        return InputType.convolutional(oh, ow, input_type.channels)

    def forward(self, x, params, ctx):
        self._check_input(x, 4, "[batch, channels, height, width]")
        x = self._input_dropout(x, ctx)
        kind, mode = self.pooling_type, self._mode()
        if kind == PoolingType.MAX:
            return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding, mode)
        if kind == PoolingType.AVG:
            return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding, mode,
                                  self.avg_pool_include_pad_in_divisor)
        if kind == PoolingType.SUM:
            return ops.sum_pool2d(x, self.kernel_size, self.stride, self.padding, mode)
        return ops.pnorm_pool2d(x, self.pnorm, self.kernel_size, self.stride, self.padding, mode)


@with_builder
@dataclasses.dataclass
class GlobalPoolingLayer(Layer):
    """Pools each channel over all positions: [batch, c, h, w] -> [batch, c]."""

    pooling_type: PoolingType = PoolingType.MAX
    pnorm: int = 2

    builder_args = ("pooling_type",)
    input_kind = "convolutional"

    def __post_init__(self):
        self.pooling_type = PoolingType.parse(self.pooling_type)

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        return InputType.feed_forward(input_type.channels)

    def forward(self, x, params, ctx):
        self._check_input(x, 4, "[batch, channels, height, width]")
        return ops.global_pool(self._input_dropout(x, ctx), self.pooling_type.value, self.pnorm)
