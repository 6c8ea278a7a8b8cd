"""Layers that score their output against labels: OutputLayer (dense + loss) and LossLayer.

``LOSSES`` maps each DL4J loss function to the op that computes it; ``loss_and_output`` is the
one place a layer's pre-activations become (loss, output).
"""

import dataclasses

import numpy as np

from minidl import ops
from minidl.ops.losses import softmax_cross_entropy_and_probabilities
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import Activation, LossFunction
from minidl.nn.layers.base import FeedForwardLayer
from minidl.nn.layers.dense import DenseLayer


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
        return softmax_cross_entropy_and_probabilities(z, labels)
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
        """The loss of ``x`` against ``labels`` (no parameters)."""
        return loss_and_output(self, x, labels)
