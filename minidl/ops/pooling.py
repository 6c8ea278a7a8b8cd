"""Max and average pooling over sliding windows, and global pooling, on NCHW arrays.

Max pooling remembers which element of each window won (the argmax); its backward sends each
output gradient to that element only. Average pooling spreads the gradient evenly over the
window. Both reuse the window geometry of convolution (``minidl.ops.window``).
"""

from minidl.autograd import Function
from minidl.backend import get_array_module
from minidl.ops._checks import require_float, require_ndim
from minidl.ops.window import Window


def _window(op, x, kernel_size, stride, padding, mode):
    require_float(op, "the input", x)
    require_ndim(op, "the input", x, 4, "[batch, channels, height, width]")
    return Window(op, x.shape, kernel_size, stride, padding, 1, mode)


class MaxPool2d(Function):
    """[N, C, H, W] -> [N, C, OH, OW], the maximum of each window (padding never wins)."""

    def __init__(self, kernel_size, stride, padding=0, mode="truncate"):
        self.args = kernel_size, stride, padding, mode

    def forward(self, x):
        xp = get_array_module(x)
        self.window = w = _window("max_pool2d", x, *self.args)
        col = w.im2col(x, value=-xp.inf)  # [N, C, KH, KW, OH, OW]
        n, c = x.shape[:2]
        col = col.reshape(n, c, w.kh * w.kw, w.oh, w.ow)
        self.argmax = col.argmax(axis=2)
        self.col_shape = col.shape
        return xp.take_along_axis(col, self.argmax[:, :, None], axis=2)[:, :, 0]

    def backward(self, gy):
        xp = get_array_module(gy)
        w = self.window
        gcol = xp.zeros(self.col_shape, dtype=gy.dtype)
        xp.put_along_axis(gcol, self.argmax[:, :, None], gy[:, :, None], axis=2)
        n, c = gy.shape[:2]
        return w.col2im(gcol.reshape(n, c, w.kh, w.kw, w.oh, w.ow))


class AvgPool2d(Function):
    """[N, C, H, W] -> [N, C, OH, OW], the mean of each window.

    ``include_pad``: padded zeros count in the divisor (DL4J's avgPoolIncludePadInDivisor, and
    PyTorch's count_include_pad); otherwise each window divides by its real elements only.
    """

    def __init__(self, kernel_size, stride, padding=0, mode="truncate", include_pad=True):
        self.args = kernel_size, stride, padding, mode
        self.include_pad = include_pad

    def forward(self, x):
        xp = get_array_module(x)
        self.window = w = _window("avg_pool2d", x, *self.args)
        total = w.im2col(x).sum(axis=(2, 3))
        if self.include_pad or not w.padded:
            self.divisor = xp.asarray(w.kh * w.kw, dtype=x.dtype)
        else:
            ones = xp.ones((1, 1) + x.shape[2:], dtype=x.dtype)
            self.divisor = w.im2col(ones).sum(axis=(2, 3))  # real elements per window
        return total / self.divisor

    def backward(self, gy):
        xp = get_array_module(gy)
        w = self.window
        g = gy / self.divisor
        gcol = xp.broadcast_to(g[:, :, None, None], g.shape[:2] + (w.kh, w.kw) + g.shape[2:])
        return w.col2im(gcol)


def max_pool2d(x, kernel_size, stride=None, padding=0, mode="truncate"):
    return MaxPool2d(kernel_size, kernel_size if stride is None else stride, padding, mode)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, mode="truncate", include_pad=True):
    stride = kernel_size if stride is None else stride
    return AvgPool2d(kernel_size, stride, padding, mode, include_pad)(x)


def global_pool(x, pooling="avg", pnorm=2):
    """Pool [N, C, H, W] over H and W -> [N, C] (DL4J's GlobalPoolingLayer: MAX, AVG, SUM, PNORM)."""
    from minidl.ops import math

    kind = str(getattr(pooling, "value", pooling)).lower()
    axes = (2, 3)
    if kind == "max":
        return math.max(x, axis=axes)
    if kind == "avg":
        return math.mean(x, axis=axes)
    if kind == "sum":
        return math.sum(x, axis=axes)
    if kind == "pnorm":
        # (sum |x|^p)^(1/p); |x| as sqrt(x^2 + tiny) keeps the gradient defined at 0.
        absx = math.power(x * x + 1e-12, 0.5)
        return math.power(math.sum(math.power(absx, pnorm), axis=axes), 1.0 / pnorm)
    raise ValueError(f"global_pool: unknown pooling type {pooling!r}; expected MAX, AVG, SUM or PNORM")
