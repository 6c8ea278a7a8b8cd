"""The dense (fully connected) op: y = f(x @ W + b), with DL4J's weight layout W [n_in, n_out].

The activation f is optional; when given it is applied in place to the GEMM's output, together
with the bias (on the GPU: one fused kernel), and differentiated from y alone
(see ``minidl.ops.activations``).
"""

from minidl.autograd import Function
from minidl.ops import activations
from minidl.ops._checks import require_float, require_ndim, with_bias_gradient


class Linear(Function):
    """x [batch, n_in] @ W [n_in, n_out] + b [n_out] -> y [batch, n_out], then f.

    ``activation`` is f as an ``ActivationFunction`` (default identity); called with two inputs
    (x, W) the op has no bias, with three (x, W, b) it has one.
    """

    def __init__(self, activation=activations.IDENTITY):
        self.activation = activation

    def forward(self, x, W, b=None):
        require_float("linear", "the input", x)
        require_ndim("linear", "the input", x, 2, "[batch, n_in]")
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"linear: input has {x.shape[1]} features (shape {tuple(x.shape)}) "
                             f"but the weights expect n_in={W.shape[0]} (W shape {tuple(W.shape)})")
        self.x, self.W, self.has_bias = x, W, b is not None
        y = x @ W
        y = self.activation.apply(y, b, out=y)
        # The backward differentiates f through y; identity needs nothing kept.
        self.y = None if self.activation.is_identity else y
        return y

    def backward(self, gy):
        gy = self.activation.gradient(self.y, gy)
        need_x, need_W = self.needs_input_grad[:2]
        gx = gy @ self.W.T if need_x else None
        gW = self.x.T @ gy if need_W else None
        return with_bias_gradient(self.has_bias, self.needs_input_grad, gx, gW, gy)


def linear(x, W, b=None, activation=None, alpha=None):
    """Dense layer op: ``f(x @ W + b)``; W is [n_in, n_out] as in DL4J; f is ``activation``
    (an elementwise activation's name, ``alpha`` its parameter) or none."""
    f = activations.IDENTITY if activation is None else activations.resolve(activation, alpha)
    fn = Linear(f)
    return fn(x, W) if b is None else fn(x, W, b)
