"""DepthwiseConvolution2D and SeparableConvolution2D (DL4J's): the convolutions of MobileNet.

A depthwise convolution filters every input channel on its own (``minidl.ops.depthwise``); a
separable convolution follows it with a 1x1 convolution that mixes the channels. Both are DL4J
subclasses of ConvolutionLayer, and so here: the same kernel, stride, padding, dilation,
convolution mode and bias settings, and what fine-tuning does to a ConvolutionLayer it does to
them.

Weight layouts (DL4J's; the two layers differ, as they do in DL4J), with m = depth_multiplier:

    DepthwiseConvolution2D  W  [kh, kw, n_in, m]     Keras' DepthwiseConv2D kernel as it is;
                                                     torchvision's [C*m, 1, kh, kw] through
                                                     ``ops.depthwise.from_torch``
                            b  [n_in * m]
    SeparableConvolution2D  W  [m, n_in, kh, kw]     Keras' depthwise_kernel (kh, kw, C, m)
                                                     .transpose(3, 2, 0, 1)
                            pW [n_out, n_in * m, 1, 1]   Keras' pointwise_kernel (1, 1, C*m, F)
                                                     .transpose(3, 2, 0, 1)
                            b  [n_out]

Output channel c*m + k of the depthwise step always comes from input channel c.
"""

import dataclasses

import numpy as np

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.weight_init import init_weights
from minidl.nn.layers.convolution import ConvolutionLayer
from minidl.ops import activations


def _fusable(layer):
    """The activation for the last op to apply inside itself, or None (then ``_activate``
    after it): an op overwrites its pre-activation in place, so only an activation whose
    derivative comes from its output qualifies (swish does not)."""
    name = layer._inner_activation()
    return name if name is not None and activations.from_output(name) else None


@dataclasses.dataclass
class _DepthwiseBase(ConvolutionLayer):
    """What both layers add to ConvolutionLayer: ``depth_multiplier`` m, the number of output
    channels of the depthwise step per input channel."""

    depth_multiplier: int = 1

    def __post_init__(self):
        super().__post_init__()
        m = self.depth_multiplier
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"layer {self.describe()}: depth_multiplier must be an integer >= 1, "
                             f"got {m!r}")
        self.depth_multiplier = int(m)

    def _depthwise(self, x, W, b=None, activation=None, alpha=None):
        """The depthwise step of x (``_checked_input``'s) through W [kh, kw, n_in, m]."""
        return ops.depthwise_conv2d(x, W, b, self.stride, self.padding, self.dilation,
                                    self._mode(), activation, alpha)

    def _depthwise_fans(self):
        kh, kw = self.kernel_size
        # DL4J's (Depthwise/SeparableConvolutionParamInitializer): fan_in counts every input
        # channel, fan_out the multiplier's outputs, divided by the stride area as for a conv.
        return (self.n_in * kh * kw,
                self.depth_multiplier * kh * kw / (self.stride[0] * self.stride[1]))


@with_builder
@dataclasses.dataclass
class DepthwiseConvolution2D(_DepthwiseBase):
    """Depthwise 2-d convolution: [batch, n_in, h, w] -> [batch, n_in * depth_multiplier, oh, ow].

    Each input channel c is convolved with depth_multiplier filters of its own, W[:, :, c, k],
    giving output channel c * depth_multiplier + k; then bias and activation. W is
    [kh, kw, n_in, depth_multiplier] (DL4J's and Keras' layout), b [n_in * depth_multiplier].
    n_out is always n_in * depth_multiplier (DL4J's rule); it need not be set.
    """

    def __post_init__(self):
        super().__post_init__()
        if self.n_in is not None:
            self._derive_n_out(check=True)

    def _derive_n_out(self, check=False):
        n_out = self.n_in * self.depth_multiplier
        if check and self.n_out is not None and self.n_out != n_out:
            raise ValueError(f"layer {self.describe()}: n_out must be n_in * depth_multiplier = "
                             f"{self.n_in} * {self.depth_multiplier} = {n_out}, got "
                             f"n_out={self.n_out}; leave n_out unset")
        self.n_out = n_out

    def output_type(self, input_type):
        self._require_convolutional(input_type)
        self._fill_n_in(input_type.channels)
        self._derive_n_out()  # DL4J: nOut follows nIn (also after an n_in_replace)
        return super().output_type(input_type)

    def param_shapes(self):
        self._require_sizes()
        shapes = {"W": self.kernel_size + (self.n_in, self.depth_multiplier)}
        if self.has_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def fans(self):
        return self._depthwise_fans()

    def forward(self, x, params, ctx):
        x = self._checked_input(x, ctx)
        inner = self._inner_activation()  # depthwise_conv2d applies a swish after itself
        y = self._depthwise(x, params["W"], params.get("b"), inner)
        return y if inner else self._activate(y)

    def _convolve(self, x, W, b=None, activation=None, alpha=None, residual=None):
        if residual is not None:  # minidl.nn.fusion sums shortcuts only into a plain conv
            raise ValueError("DepthwiseConvolution2D: no residual can be summed into its op")
        return self._depthwise(x, W, b, activation, alpha)

    def scale_output_channels(self, W, scale):
        """W [kh, kw, n_in, m] with output channel c * m + k multiplied by ``scale[c * m + k]``."""
        return W * scale.reshape(W.shape[2], W.shape[3])


@with_builder
@dataclasses.dataclass
class SeparableConvolution2D(_DepthwiseBase):
    """Depthwise then pointwise: [batch, n_in, h, w] -> [batch, n_out, oh, ow].

    The depthwise step (kernel, stride, padding, dilation, mode) gives n_in * depth_multiplier
    channels; a 1x1 convolution mixes them into n_out, adds b, then the activation. Parameters
    (DL4J's): W [depth_multiplier, n_in, kh, kw], pW [n_out, n_in * depth_multiplier, 1, 1],
    b [n_out].
    """

    def param_shapes(self):
        self._require_sizes()
        m = self.depth_multiplier
        shapes = {"W": (m, self.n_in) + self.kernel_size, "pW": (self.n_out, self.n_in * m, 1, 1)}
        if self.has_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def init_params(self, rng, dtype=np.float32):
        shapes = self.param_shapes()
        pointwise_fan = self.n_in * self.depth_multiplier  # DL4J's fan_in = fan_out for pW
        params = {
            "W": init_weights(self.weight_init, shapes["W"], *self._depthwise_fans(), rng, dtype),
            "pW": init_weights(self.weight_init, shapes["pW"], pointwise_fan, pointwise_fan, rng,
                               dtype),
        }
        if "b" in shapes:
            params["b"] = np.full(shapes["b"], self.bias_init or 0.0, dtype=dtype)
        return params

    def forward(self, x, params, ctx):
        x = self._checked_input(x, ctx)
        # W [m, n_in, kh, kw] -> [kh, kw, n_in, m], the op's layout (DL4J permutes the same way)
        y = self._depthwise(x, ops.transpose(params["W"], (2, 3, 1, 0)))
        inner = _fusable(self)
        y = ops.conv2d(y, params["pW"], params.get("b"), activation=inner)
        return y if inner else self._activate(y)
