"""BatchNormalization: normalises each feature (or channel) with batch, then running, statistics."""

import dataclasses

import numpy as np

from minidl import ops
from minidl.autograd import Tensor
from minidl.backend import get_array_module
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import Activation
from minidl.nn.layers.base import FeedForwardLayer


@with_builder
@dataclasses.dataclass
class BatchNormalization(FeedForwardLayer):
    """Batch normalization of [batch, n] (per feature) or [batch, c, h, w] (per channel).

    Parameters (DL4J's): gamma, beta (trained) and mean, var (running statistics, updated in the
    forward pass during training, never by the updater).
    """

    # The statistics become a per-channel scale and shift in float32 first (then cast): in
    # half, var + eps and its square root would lose digits a float32 pass keeps.
    full_precision_params = ("gamma", "beta", "mean", "var")

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

    def inference_affine(self, params):
        """(scale, shift) per channel, float64 arrays: inference mode is y = x * scale + shift,
        scale = gamma / sqrt(var + eps), shift = beta - mean * scale (``minidl.nn.fusion``
        folds them into the convolution before)."""
        xp = get_array_module(params["mean"].data)
        mean, var = (params[k].data.astype(xp.float64) for k in ("mean", "var"))
        if self.lock_gamma_beta:
            gamma, beta = self.gamma, self.beta
        else:
            gamma, beta = (params[k].data.astype(xp.float64) for k in ("gamma", "beta"))
        scale = gamma / xp.sqrt(var + self.eps)
        return scale, beta - mean * scale

    def __post_init__(self):
        super().__post_init__()
        if self.activation is None:
            self.activation = Activation.IDENTITY  # DL4J's BatchNormalization default
