"""DenseLayer: the fully connected layer, x @ W + b and an activation."""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.base import FeedForwardLayer


@with_builder
@dataclasses.dataclass
class DenseLayer(FeedForwardLayer):
    """Fully connected layer: [batch, n_in] -> activation(x @ W + b) [batch, n_out].

    Parameters: W [n_in, n_out] and b [n_out] (none with ``has_bias=False``), shaped and
    initialised by FeedForwardLayer; ``n_in`` is inferred from the input type when unset.
    """

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
