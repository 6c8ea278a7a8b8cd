"""What every layer is built on: Layer, BaseLayer, FeedForwardLayer and DL4J's defaults.

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

import copy
import dataclasses
from types import SimpleNamespace

import numpy as np

from minidl import ops
from minidl.learning.regularization import L1Regularization, L2Regularization, WeightDecay
from minidl.learning.updaters import Sgd
from minidl.naming import Dl4jNames
from minidl.nn.conf.enums import Activation, ConvolutionMode, GradientNormalization
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.settings import LayerSettings
from minidl.nn.conf.weight_init import WeightInit, init_weights

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
    return WeightInit.XAVIER


def _default_updater():
    return Sgd()


class Context(SimpleNamespace):
    """What a forward pass needs besides the input: ``train`` (bool), ``rng`` for dropout and
    ``dtype``, the activations' type when it is not the parameters' (float16 for inference in
    half precision, ``minidl.nn.precision``, which also sets ``watch``, its FiniteWatch; None
    otherwise)."""

    def __init__(self, train=False, rng=None, dtype=None, watch=None):
        super().__init__(train=train, rng=rng, dtype=dtype, watch=watch)


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
    # Parameters that stay in float32 when the activations are float16 (minidl.nn.precision):
    # those the layer turns into something else before they meet the activations.
    full_precision_params = ()
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
                setattr(self, f.name, copy.deepcopy(defaults[f.name]))
            elif f.name in DL4J_DEFAULTS:
                setattr(self, f.name, DL4J_DEFAULTS[f.name])
            elif f.name == "weight_init":
                self.weight_init = _default_weight_init()
            elif f.name in ("updater", "bias_updater"):
                # DL4J: the bias updater defaults to the layer's updater.
                self.updater = self.updater or _default_updater()
                self.bias_updater = self.bias_updater or copy.deepcopy(self.updater)

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
        """The updater of parameter ``param`` (None for a layer without parameters)."""
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


@dataclasses.dataclass
class BaseLayer(LayerSettings, Layer):
    """A layer with an activation, parameters and the per-parameter training settings."""

    builder_aliases = {**Layer.builder_aliases, "dist": "weight_init"}

    def updater_for(self, param):
        """The updater of parameter ``param``: ``bias_updater`` for biases, else ``updater``."""
        return self.bias_updater if self.param_kind(param) == "bias" else self.updater

    def regularization_for(self, param):
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
        None: none at all (identity), not elementwise (softmax), or one whose derivative needs
        its input rather than its output (swish): those run after the op."""
        name = self.activation.value
        if name in ("identity", "softmax") or not ops.activations.from_output(name):
            return None
        return name


@dataclasses.dataclass
class FeedForwardLayer(BaseLayer):
    """A BaseLayer with DL4J's ``n_in`` / ``n_out`` sizes (inputs and units).

    Its parameters are DL4J's dense ones, W [n_in, n_out] and b [n_out]; layers with other
    parameters (convolution, batch norm) override ``param_shapes``.
    """

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
        """(fan_in, fan_out) for weight initialization."""
        return self.n_in, self.n_out

    def init_params(self, rng, dtype=np.float32):
        shapes = self.param_shapes()
        fan_in, fan_out = self.fans()
        params = {"W": init_weights(self.weight_init, shapes["W"], fan_in, fan_out, rng, dtype)}
        if "b" in shapes:
            params["b"] = np.full(shapes["b"], self.bias_init or 0.0, dtype=dtype)
        return params
