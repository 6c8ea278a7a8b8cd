"""2-d convolution (cross-correlation, as in every DL framework) on NCHW arrays.

Shapes: x [N, C, H, W], W [n_out, C, KH, KW] (DL4J's layout), b [n_out] -> y [N, n_out, OH, OW].
Forward: y = W_mat @ im2col(x) where W_mat is W reshaped to [n_out, C*KH*KW]. Backward:
    gW = gy @ im2col(x)^T           (each weight met every window it was applied to)
    gx = col2im(W_mat^T @ gy)       (each window position sends its gradient back to its pixels)
    gb = sum of gy over N, OH, OW.
"""

import numpy as np

from minidl.autograd import Function
from minidl.ops._checks import require_float, require_ndim
from minidl.ops.window import Window


class Conv2d(Function):
    """See the module docstring; ``mode`` is DL4J's ConvolutionMode (Truncate, Same, Strict)."""

    def __init__(self, stride=1, padding=0, dilation=1, mode="truncate"):
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode

    def forward(self, x, W, b=None):
        require_float("conv2d", "the input", x)
        require_ndim("conv2d", "the input", x, 4, "[batch, channels, height, width]")
        require_ndim("conv2d", "the weights", W, 4, "[n_out, n_in, kh, kw]")
        if x.shape[1] != W.shape[1]:
            raise ValueError(f"conv2d: input has {x.shape[1]} channels (shape {tuple(x.shape)}) "
                             f"but the weights expect n_in={W.shape[1]} (W shape {tuple(W.shape)})")
        self.window = Window("conv2d", x.shape, W.shape[2:], self.stride, self.padding,
                             self.dilation, self.mode)
        col = self.window.im2col(x)
        self.W = W
        self.col = col if self.needs_grad_of_W() else None
        y = np.tensordot(col, W, ((1, 2, 3), (1, 2, 3))) if _is_numpy(x) else \
            _xp(x).tensordot(col, W, ((1, 2, 3), (1, 2, 3)))
        if b is not None:
            y += b
        return y.transpose(0, 3, 1, 2)

    def needs_grad_of_W(self):
        # Forward runs before the graph is linked, so keep the columns unless we know better.
        return True

    def backward(self, gy):
        xp = _xp(gy)
        need_x, need_W = self.needs_input_grad[:2]
        gx = gW = gb = None
        if need_W:
            gW = xp.tensordot(gy, self.col, ((0, 2, 3), (0, 4, 5)))
        if need_x:
            gcol = xp.tensordot(self.W, gy, (0, 1))  # [C, KH, KW, N, OH, OW]
            gx = self.window.col2im(xp.moveaxis(gcol, 3, 0))
        if len(self.needs_input_grad) == 3:
            gb = gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
            return gx, gW, gb
        return gx, gW


def _xp(a):
    from minidl.backend import get_array_module
    return get_array_module(a)


def _is_numpy(a):
    return isinstance(a, np.ndarray)


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, mode="truncate"):
    """Convolve NCHW ``x`` with ``W`` [n_out, n_in, kh, kw]; see ``Conv2d``."""
    fn = Conv2d(stride, padding, dilation, mode)
    return fn(x, W) if b is None else fn(x, W, b)
