"""Layers: each class is a layer's configuration *and* its computation.

A layer is a dataclass of DL4J's settings (``n_in``, ``n_out``, ``activation``, ``updater``...).
Fields left as None are "unset": the network configuration fills them from its global defaults
when it is built (``NeuralNetConfiguration.Builder().activation(...)``), and then from DL4J's own
defaults. The same object knows how to

* infer its output type from its input type (and fill ``n_in`` when omitted),
* name and shape its parameters and initialise them (DL4J's layouts: dense W [n_in, n_out],
  conv W [n_out, n_in, kh, kw], biases [n_out]),
* compute its forward pass from Tensors, through the differentiable ops (so the backward pass
  comes from autograd).

Parameters themselves live in the network, keyed by layer, so a configuration stays a plain value
that can be copied, compared and written to JSON.
"""

import dataclasses
from types import SimpleNamespace

import numpy as np

from minidl import ops
from minidl.autograd import Tensor, no_grad
from minidl.backend import get_array_module
from minidl.naming import Dl4jNames
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import (Activation, AlgoMode, ConvolutionMode, GradientNormalization,
                                  LossFunction, PoolingType)
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.settings import LayerSettings
from minidl.ops._checks import pair

# DL4J's defaults for fields that neither the layer nor the global configuration set.
DL4J_DEFAULTS = {
    "activation": Activation.SIGMOID,
    "bias_init": 0.0,
    "convolution_mode": ConvolutionMode.Truncate,
    "gradient_normalization": GradientNormalization.NONE,
    "gradient_normalization_threshold": 1.0,
    "l1": 0.0, "l2": 0.0, "l1_bias": 0.0, "l2_bias": 0.0,
    "weight_decay": 0.0, "weight_decay_bias": 0.0,
    "weight_decay_apply_lr": True, "weight_decay_bias_apply_lr": True,
    "dropout": 0.0,
}


def _default_weight_init():
    from minidl.nn.conf.weight_init import WeightInit
    return WeightInit.XAVIER


def _default_updater():
    from minidl.learning.updaters import Sgd
    return Sgd()


class Context(SimpleNamespace):
    """What a forward pass needs besides the input: ``train`` (bool) and ``rng`` for dropout."""


@dataclasses.dataclass
class Layer(Dl4jNames):
    """Base of all layers: a name and the dropout applied to the layer's input.

    ``dropout`` is DL4J's retain probability p (0 or 1 mean no dropout); it acts on the layer's
    *input* during training, as in DL4J.
    """

    name: str = None
    dropout: float = None

    builder_aliases = {"drop_out": "dropout", "layer_name": "name"}
    has_params = False
    input_kind = "any"  # "convolutional", "feed_forward" or "any": what forward expects
    frozen = False  # True for FrozenLayer / FrozenLayerWithBackprop
    is_output = False  # OutputLayer / LossLayer: computes a loss from labels
    is_feed_forward = False  # DL4J's FeedForwardLayer: has n_in and n_out

    @property
    def type_name(self):
        return type(self).__name__

    def describe(self):
        """``"fc2" (DenseLayer)`` - how errors and summaries name a layer."""
        return f"{self.name!r} ({self.type_name})" if self.name is not None else self.type_name

    # -- configuration ---------------------------------------------------------------------
    def apply_defaults(self, defaults):
        """Fill unset fields from ``defaults`` (the global configuration), then DL4J's own."""
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is not None:
                continue
            if defaults.get(f.name) is not None:
                setattr(self, f.name, _copy(defaults[f.name]))
            elif f.name in DL4J_DEFAULTS:
                setattr(self, f.name, DL4J_DEFAULTS[f.name])
            elif f.name == "weight_init":
                self.weight_init = _default_weight_init()
            elif f.name in ("updater", "bias_updater"):
                # DL4J: the bias updater defaults to the layer's updater.
                self.updater = self.updater or _default_updater()
                self.bias_updater = self.bias_updater or _copy(self.updater)

    def output_type(self, input_type):
        """The type of this layer's output for ``input_type``; sets ``n_in`` when unset."""
        return input_type

    def param_shapes(self):
        """Ordered {param name: shape}; empty for layers without parameters."""
        return {}

    def init_params(self, rng, dtype=np.float32):
        """Fresh parameter arrays (NumPy) drawn from ``rng``."""
        return {}

    def param_kind(self, param):
        """"weight", "bias" or "state" (a parameter that gets no gradient, e.g. BN's mean)."""
        return "bias" if param == "b" else "weight"

    def updater_for(self, param):
        return None

    def regularization_for(self, param):
        """The Regularization objects (L1, L2, WeightDecay) that apply to one parameter."""
        return []

    def forward(self, x, params, ctx):
        """The layer's output Tensor for input Tensor ``x`` and {name: Tensor} ``params``."""
        raise NotImplementedError

    def _input_dropout(self, x, ctx):
        p = self.dropout
        if ctx.train and p not in (None, 0.0, 1.0):
            return ops.dropout(x, p, ctx.rng)
        return x

    def _check_input(self, x, expected_dims, layout):
        if x.ndim != expected_dims:
            raise ValueError(f"layer {self.describe()}: expected input {layout}, got shape "
                             f"{tuple(x.shape)}")

    def _require_convolutional(self, input_type):
        """Raise unless ``input_type`` is a feature map (what image layers take)."""
        if input_type is None or not input_type.is_convolutional:
            raise ValueError(f"layer {self.describe()}: expects convolutional input "
                             f"[batch, channels, height, width], got {input_type}")


def _copy(value):
    import copy
    return copy.deepcopy(value)


@dataclasses.dataclass
class BaseLayer(LayerSettings, Layer):
    """A layer with an activation, parameters and the per-parameter training settings."""

    builder_aliases = {**Layer.builder_aliases, "dist": "weight_init"}

    def updater_for(self, param):
        return self.bias_updater if self.param_kind(param) == "bias" else self.updater

    def regularization_for(self, param):
        from minidl.learning.regularization import L1Regularization, L2Regularization, WeightDecay

        kind = self.param_kind(param)
        if kind == "state":
            return []
        bias = kind == "bias"
        l1 = self.l1_bias if bias else self.l1
        l2 = self.l2_bias if bias else self.l2
        decay = self.weight_decay_bias if bias else self.weight_decay
        apply_lr = self.weight_decay_bias_apply_lr if bias else self.weight_decay_apply_lr
        return ([L1Regularization(l1)] if l1 else []) + ([L2Regularization(l2)] if l2 else []) + \
            ([WeightDecay(decay, apply_lr)] if decay else [])

    def _activate(self, z):
        return ops.activation(z, self.activation.value)

    def _inner_activation(self):
        """The activation for a conv or dense op to apply inside itself (``activation=``), or
        None: none at all (identity), or not elementwise (softmax, applied after the op)."""
        name = self.activation.value
        return None if name in ("identity", "softmax") else name


@dataclasses.dataclass
class FeedForwardLayer(BaseLayer):
    """A BaseLayer with DL4J's ``n_in`` / ``n_out`` sizes (inputs and units)."""

    n_in: int = None
    n_out: int = None

    is_feed_forward = True
    input_kind = "feed_forward"

    def _fill_n_in(self, n_in):
        if self.n_in is None:
            self.n_in = int(n_in)
        elif self.n_in != n_in:
            raise ValueError(f"layer {self.describe()}: n_in={self.n_in} but its input has "
                             f"{n_in} {'channels' if self.input_kind == 'convolutional' else 'features'}")

    def _require_sizes(self):
        if self.n_in is None or self.n_out is None:
            raise ValueError(f"layer {self.describe()}: n_in and n_out must be set (n_in={self.n_in}, "
                             f"n_out={self.n_out}); set n_in or give the network an input type")

    def output_type(self, input_type):
        if input_type is not None:
            self._fill_n_in(input_type.flat_size())
        return InputType.feed_forward(self.n_out)

    def param_shapes(self):
        self._require_sizes()
        return {"W": (self.n_in, self.n_out), "b": (self.n_out,)}

    def fans(self):
        return self.n_in, self.n_out

    def init_params(self, rng, dtype=np.float32):
        from minidl.nn.conf.weight_init import init_weights
        shapes = self.param_shapes()
        fan_in, fan_out = self.fans()
        params = {"W": init_weights(self.weight_init, shapes["W"], fan_in, fan_out, rng, dtype)}
        if "b" in shapes:
            params["b"] = np.full(shapes["b"], self.bias_init or 0.0, dtype=dtype)
        return params


@with_builder
@dataclasses.dataclass
class DenseLayer(FeedForwardLayer):
    """Fully connected layer: [batch, n_in] -> activation(x @ W + b) [batch, n_out]."""

    has_bias: bool = True

    has_params = True

    def param_shapes(self):
        shapes = super().param_shapes()
        return shapes if self.has_bias else {"W": shapes["W"]}

    def pre_output(self, x, params, ctx, activation=None):
        """x @ W + b (DL4J's preOutput); with ``activation`` the op also applies it."""
        self._check_input(x, 2, f"[batch, {self.n_in}]")
        if x.shape[1] != self.n_in:
            raise ValueError(f"layer {self.describe()}: expected input [batch, {self.n_in}], got "
                             f"shape {tuple(x.shape)}")
        x = self._input_dropout(x, ctx)
        return ops.linear(x, params["W"], params.get("b"), activation)

    def forward(self, x, params, ctx):
        inner = self._inner_activation()
        y = self.pre_output(x, params, ctx, inner)
        return y if inner else self._activate(y)


@dataclasses.dataclass
class BaseOutputLayer(DenseLayer):
    """A dense layer whose output is scored against labels with a loss function."""

    loss: LossFunction = None

    builder_args = ("loss",)
    builder_aliases = {**DenseLayer.builder_aliases, "loss_function": "loss", "loss_fn": "loss"}
    is_output = True

    def __post_init__(self):
        super().__post_init__()
        self.loss = LossFunction.parse(self.loss if self.loss is not None else LossFunction.MCXENT)

    def compute_loss(self, x, params, labels, ctx):
        """(mean loss over the batch, activated output) for input ``x`` and ``labels``."""
        z = self.pre_output(x, params, ctx)
        return loss_and_output(self, z, labels)


def loss_and_output(layer, z, labels):
    """Score pre-activations ``z`` with ``layer.loss``; softmax + cross-entropy is fused."""
    if labels.shape != z.shape:
        raise ValueError(f"layer {layer.describe()}: labels of shape {tuple(labels.shape)} do not "
                         f"match the output of shape {tuple(z.shape)} ({z.shape[1]} classes)")
    if layer.loss.is_cross_entropy and layer.activation == Activation.SOFTMAX:
        with no_grad():
            out = ops.softmax(z)
        return ops.softmax_cross_entropy(z, labels), out
    out = layer._activate(z)
    return LOSSES[layer.loss](out, labels), out


LOSSES = {
    LossFunction.MCXENT: ops.cross_entropy,
    LossFunction.NEGATIVELOGLIKELIHOOD: ops.cross_entropy,
    LossFunction.MSE: ops.mse,
    LossFunction.SQUARED_LOSS: ops.l2,
    LossFunction.L2: ops.l2,
    LossFunction.MEAN_ABSOLUTE_ERROR: ops.mae,
    # DL4J's L1 loss is the sum of the absolute errors over the outputs (as its L2 loss is the
    # sum of squares): MAE without MAE's division by n_out.
    LossFunction.L1: lambda out, y: ops.mae(out, y) * out.shape[1],
    LossFunction.XENT: ops.binary_cross_entropy,
}


@with_builder
@dataclasses.dataclass
class OutputLayer(BaseOutputLayer):
    """Dense layer + loss: [batch, n_in] -> activation(x @ W + b) [batch, n_out], scored by ``loss``."""


@with_builder
@dataclasses.dataclass
class LossLayer(FeedForwardLayer):
    """A loss with no parameters: activation(x) scored against labels; n_out = n_in."""

    loss: LossFunction = None

    builder_args = ("loss",)
    builder_aliases = {**FeedForwardLayer.builder_aliases, "loss_function": "loss"}
    is_output = True
    input_kind = "any"

    def __post_init__(self):
        super().__post_init__()
        self.loss = LossFunction.parse(self.loss if self.loss is not None else LossFunction.MCXENT)

    def output_type(self, input_type):
        if input_type is not None:
            self.n_in = self.n_out = input_type.flat_size()
        return input_type

    def param_shapes(self):
        return {}

    def init_params(self, rng, dtype=np.float32):
        return {}

    def forward(self, x, params, ctx):
        return self._activate(x)

    def compute_loss(self, x, params, labels, ctx):
        return loss_and_output(self, x, labels)


class _SlidingWindow:
    """What convolution and pooling layers share: a kernel sliding over a feature map.

    The layer declares the dataclass fields ``kernel_size``, ``stride``, ``padding`` and
    ``convolution_mode`` (their defaults differ per layer) and lists its pair fields in
    ``pair_fields``; this mixin parses them and works out the output size.
    """

    dilation = (1, 1)  # pooling windows are not dilated; ConvolutionLayer has a field for it

    def _parse_window_fields(self):
        # A single int means a square (kernel_size=3); JSON gives pairs back as lists.
        for f in self.pair_fields:
            setattr(self, f, pair(getattr(self, f), f))
        if self.convolution_mode is not None:
            self.convolution_mode = ConvolutionMode.parse(self.convolution_mode)

    def _mode(self):
        return (self.convolution_mode or ConvolutionMode.Truncate).value

    def output_size(self, height, width):
        """(out height, out width) for a [height, width] input, by ``convolution_mode``."""
        from minidl.ops.window import Window
        w = Window(f"layer {self.describe()}", (1, 1, height, width), self.kernel_size,
                   self.stride, self.padding, self.dilation, self._mode())
        return w.oh, w.ow


@with_builder
@dataclasses.dataclass
class ConvolutionLayer(FeedForwardLayer, _SlidingWindow):
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

    def forward(self, x, params, ctx):
        self._check_input(x, 4, f"[batch, {self.n_in}, height, width]")
        if x.shape[1] != self.n_in:
            raise ValueError(f"layer {self.describe()}: expected {self.n_in} input channels, got "
                             f"input of shape {tuple(x.shape)}")
        x = self._input_dropout(x, ctx)
        inner = self._inner_activation()
        y = ops.conv2d(x, params["W"], params.get("b"), self.stride, self.padding,
                       self.dilation, self._mode(), inner)
        return y if inner else self._activate(y)


Convolution2D = ConvolutionLayer


@with_builder
@dataclasses.dataclass
class SubsamplingLayer(Layer, _SlidingWindow):
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


@with_builder
@dataclasses.dataclass
class BatchNormalization(FeedForwardLayer):
    """Batch normalization of [batch, n] (per feature) or [batch, c, h, w] (per channel).

    Parameters (DL4J's): gamma, beta (trained) and mean, var (running statistics, updated in the
    forward pass during training, never by the updater).
    """

    decay: float = 0.9
    eps: float = 1e-5
    gamma: float = 1.0
    beta: float = 0.0
    lock_gamma_beta: bool = False

    has_params = True
    input_kind = "any"  # normalises feature maps as they are: no flattening preprocessor

    def output_type(self, input_type):
        size = input_type.channels if input_type.is_convolutional else input_type.flat_size()
        self._fill_n_in(size)
        self.n_out = self.n_in
        return input_type

    def param_shapes(self):
        n = self.n_out or self.n_in
        names = ("mean", "var") if self.lock_gamma_beta else ("gamma", "beta", "mean", "var")
        return {name: (n,) for name in names}

    def param_kind(self, param):
        return {"gamma": "weight", "beta": "bias"}.get(param, "state")

    def init_params(self, rng, dtype=np.float32):
        values = {"gamma": self.gamma, "beta": self.beta, "mean": 0.0, "var": 1.0}
        return {k: np.full(shape, values[k], dtype=dtype) for k, shape in self.param_shapes().items()}

    def forward(self, x, params, ctx):
        x = self._input_dropout(x, ctx)
        xp = get_array_module(x)
        if self.lock_gamma_beta:
            gamma = Tensor(xp.full(self.n_out, self.gamma, dtype=x.dtype))
            beta = Tensor(xp.full(self.n_out, self.beta, dtype=x.dtype))
        else:
            gamma, beta = params["gamma"], params["beta"]
        y = ops.batch_norm(x, gamma, beta, params["mean"].data, params["var"].data, ctx.train,
                           self.decay, self.eps)
        return self._activate(y)

    def __post_init__(self):
        super().__post_init__()
        if self.activation is None:
            self.activation = Activation.IDENTITY  # DL4J's BatchNormalization default


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


@with_builder
@dataclasses.dataclass
class DropoutLayer(Layer):
    """Applies dropout (retain probability ``dropout``) in training; identity in inference."""

    builder_args = ("dropout",)

    def forward(self, x, params, ctx):
        return self._input_dropout(x, ctx)


# -- frozen wrappers --------------------------------------------------------------------------

def _delegated(name):
    """A property that reads ``name`` (an attribute or a method) from the wrapped layer."""
    return property(lambda self: getattr(self.layer, name))


@dataclasses.dataclass
class _FrozenBase(Layer):
    """Wraps a layer whose parameters must not change (DL4J's frozen layers).

    A frozen layer always runs in inference mode (no dropout, batch norm on running statistics):
    its parameters are fixed, so the statistics it was trained with are the ones that fit them,
    and featurizing once must give the same values as running it in every epoch. It has no
    updater and no regularization, so it adds nothing to the score either. Parameter names and
    the initial values are those of the wrapped layer.
    """

    layer: Layer = None

    builder_aliases = {}
    frozen = True

    def __post_init__(self):
        if isinstance(self.name, Layer) and self.layer is None:
            # FrozenLayer(layer), as DL4J writes it: the first positional field is ``name``.
            self.name, self.layer = None, self.name
        if self.layer is None:
            raise ValueError(f"{type(self).__name__} needs a layer to wrap")
        if self.name is None:
            self.name = self.layer.name
        else:
            self.layer.name = self.name

    # Everything about shapes and parameters is the wrapped layer's: attributes the wrapper
    # does not have come from it, and so do the class-level facts below, which a plain
    # __getattr__ would never reach (Layer defines them).
    def __getattr__(self, name):
        if name.startswith("__") or name == "layer":
            raise AttributeError(name)
        return getattr(self.layer, name)

    has_params = _delegated("has_params")
    is_output = _delegated("is_output")
    is_feed_forward = _delegated("is_feed_forward")
    input_kind = _delegated("input_kind")
    output_type = _delegated("output_type")
    param_shapes = _delegated("param_shapes")
    init_params = _delegated("init_params")
    param_kind = _delegated("param_kind")

    def describe(self):
        return f"{self.name!r} ({type(self).__name__}<{self.layer.type_name}>)"

    def apply_defaults(self, defaults):
        self.layer.name = self.name  # the network may have named the wrapper (index, vertex name)
        self.layer.apply_defaults(defaults)

    def updater_for(self, param):
        return None

    def regularization_for(self, param):
        return []

    def _inference(self, ctx):
        return Context(**{**vars(ctx), "train": False})


@with_builder
@dataclasses.dataclass
class FrozenLayer(_FrozenBase):
    """A frozen layer that also stops the gradient: nothing below it trains through it.

    Its forward runs without building a graph, so a network frozen up to layer k does no
    backward work at all below k. An OutputLayer cannot be frozen this way (use
    FrozenLayerWithBackprop).
    """

    builder_args = ("layer",)

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.layer, BaseOutputLayer):
            raise ValueError(f"Output layers are not allowed to be frozen (layer name: "
                             f"{self.layer.name}); use FrozenLayerWithBackprop")

    def forward(self, x, params, ctx):
        with no_grad():
            return self.layer.forward(x, params, self._inference(ctx))


@with_builder
@dataclasses.dataclass
class FrozenLayerWithBackprop(_FrozenBase):
    """A frozen layer that still passes the gradient to the layers below (which may train)."""

    builder_args = ("layer",)

    def forward(self, x, params, ctx):
        return self.layer.forward(x, params, self._inference(ctx))

    def compute_loss(self, x, params, labels, ctx):
        return self.layer.compute_loss(x, params, labels, self._inference(ctx))


def unwrap(layer):
    """The innermost layer of a (possibly frozen) layer."""
    while isinstance(layer, _FrozenBase):
        layer = layer.layer
    return layer
