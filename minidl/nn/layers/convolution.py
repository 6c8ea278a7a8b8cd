"""ConvolutionLayer (DL4J's Convolution2D): a 2-d convolution, its bias and an activation."""

import dataclasses

from minidl import ops
from minidl.backend import get_array_module
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import AlgoMode, ConvolutionMode
from minidl.nn.conf.input_type import InputType
from minidl.nn.layers.base import FeedForwardLayer
from minidl.nn.layers.window import SlidingWindow


@with_builder
@dataclasses.dataclass
class ConvolutionLayer(FeedForwardLayer, SlidingWindow):
    """2-d convolution: [batch, n_in, h, w] -> activation(conv(x, W) + b) [batch, n_out, oh, ow].

    W is [n_out, n_in, kh, kw]. ``convolution_mode`` is DL4J's Truncate (default), Same or Strict;
    in Same mode the configured padding is ignored and computed.
    """

    kernel_size: tuple = (5, 5)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    convolution_mode: ConvolutionMode = None
    has_bias: bool = True

    builder_args = ("kernel_size", "stride", "padding")
    pair_fields = ("kernel_size", "stride", "padding", "dilation")
    builder_aliases = {**FeedForwardLayer.builder_aliases, "kernel": "kernel_size"}
    builder_ignored = ("cudnn_algo_mode", "cudnn_allow_fallback")  # no cuDNN: see enums
    AlgoMode = AlgoMode  # DL4J spells it ConvolutionLayer.AlgoMode.PREFER_FASTEST
    has_params = True
    input_kind = "convolutional"

    def __post_init__(self):
        super().__post_init__()
        self._parse_window_fields()

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        self._fill_n_in(input_type.channels)
        oh, ow = self.output_size(input_type.height, input_type.width)
        return InputType.convolutional(oh, ow, self.n_out)

    def param_shapes(self):
        self._require_sizes()
        shapes = {"W": (self.n_out, self.n_in) + self.kernel_size}
        if self.has_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def fans(self):
        kh, kw = self.kernel_size
        # DL4J: fan_out divides by the stride area (each input pixel feeds fewer outputs).
        return self.n_in * kh * kw, self.n_out * kh * kw / (self.stride[0] * self.stride[1])

    def _checked_input(self, x, ctx):
        """``x`` [batch, n_in, height, width], checked, with the input dropout applied."""
        self._check_input(x, 4, f"[batch, {self.n_in}, height, width]")
        if x.shape[1] != self.n_in:
            raise ValueError(f"layer {self.describe()}: expected {self.n_in} input channels, got "
                             f"input of shape {tuple(x.shape)}")
        return self._input_dropout(x, ctx)

    def forward(self, x, params, ctx):
        x = self._checked_input(x, ctx)
        inner = self._inner_activation()
        y = self._convolve(x, params["W"], params.get("b"), inner)
        return y if inner else self._activate(y)

    def _convolve(self, x, W, b=None, activation=None, alpha=None, residual=None):
        """The layer's op on checked ``x`` with weights ``W`` (this layer's layout), bias ``b``
        and an elementwise ``activation`` applied inside the op (after ``residual``)."""
        return ops.conv2d(x, W, b, self.stride, self.padding, self.dilation, self._mode(),
                          activation, alpha, residual)

    # -- inference-time batch-norm folding (minidl.nn.fusion) -------------------------------
    def forward_with(self, x, W, b, activation, alpha, ctx, residual=None):
        """``forward`` with weights given (a batch norm folded into them) and the fused
        ``activation`` in place of this layer's own, which must be identity; ``residual``: a
        shortcut summed into the output before the activation (inference only)."""
        return self._convolve(self._checked_input(x, ctx), W, b, activation, alpha, residual)

    def scale_output_channels(self, W, scale):
        """W [n_out, n_in, kh, kw] with output channel o multiplied by ``scale[o]``; its memory
        in ``ops.conv.kernel_matrix``'s [kh, kw, n_in, n_out] order, so that no forward copies
        it again (12 ms of ResNet50's forward, batch 1 or 8)."""
        taps_first = get_array_module(W).ascontiguousarray(W.transpose(2, 3, 1, 0))
        return (taps_first * scale).transpose(3, 2, 0, 1)


Convolution2D = ConvolutionLayer
