"""The dense (fully connected) op: y = x @ W + b, with DL4J's weight layout W [n_in, n_out]."""

from minidl.autograd import Function
from minidl.ops._checks import require_float, require_ndim


class Linear(Function):
    """x [batch, n_in] @ W [n_in, n_out] + b [n_out] -> y [batch, n_out]."""

    def forward(self, x, W, b=None):
        require_float("linear", "the input", x)
        require_ndim("linear", "the input", x, 2, "[batch, n_in]")
        if x.shape[1] != W.shape[0]:
            raise ValueError(f"linear: input has {x.shape[1]} features (shape {tuple(x.shape)}) "
                             f"but the weights expect n_in={W.shape[0]} (W shape {tuple(W.shape)})")
        self.x, self.W = x, W
        y = x @ W
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        need_x, need_W = self.needs_input_grad[:2]
        gx = gy @ self.W.T if need_x else None
        gW = self.x.T @ gy if need_W else None
        if len(self.needs_input_grad) == 3:
            gb = gy.sum(axis=0) if self.needs_input_grad[2] else None
            return gx, gW, gb
        return gx, gW


def linear(x, W, b=None):
    """Dense layer op: ``x @ W + b``; W is [n_in, n_out] as in DL4J."""
    return Linear()(x, W) if b is None else Linear()(x, W, b)
