"""Max, average, sum and p-norm pooling over sliding windows, and global pooling, on NCHW
arrays.

Both pools walk the KH x KW kernel taps (``Window.tap``: the [N, OH, OW, C] slice of the input
each tap sees) and combine them elementwise: a running maximum, or a running sum. That touches
every input element KH*KW times without ever building the windows, and it works channels-last
like convolution (see ``minidl.ops.window``), so a conv -> relu -> pool chain never changes
layout. Max pooling remembers which tap won each window (the argmax, first one on ties as in
PyTorch); its backward sends each output gradient to that element only. Average pooling spreads
the gradient evenly over the window. The loops over taps are the GPU seam: on the GPU one CUDA
kernel (``minidl/ops/cuda/pool.cu``) does each forward and backward in one pass. Sum and p-norm
pooling are built on average pooling from differentiable ops, so they need no kernel of their own.

DL4J facts mirrored here: max pooling pads with -inf (padding never wins); for average pooling
DL4J's ``avgPoolIncludePadInDivisor`` defaults to false in every model built since 1.0.0-beta5,
so ``include_pad=False`` is the default: a window overlapping the border divides by the number
of real pixels it covers. (PyTorch's default, count_include_pad=True, is the other choice.)
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _memory, _parallel, cuda
from minidl.ops._checks import pair, require_float, require_ndim
from minidl.ops.window import Window, channels_first, channels_last


def _window(op, x, kernel_size, stride, padding, mode):
    require_float(op, "the input", x)
    require_ndim(op, "the input", x, 4, "[batch, channels, height, width]")
    return Window(op, x.shape, kernel_size, stride, padding, 1, mode)


def _padded(window, x_l, value):
    """Channels-last ``x_l`` with the window's border (no copy when there is none)."""
    return window.pad(x_l, value) if window.padded else x_l


def _scatter_taps(window, g_taps, dtype, xp, where=None):
    """gx [N, C, H, W] from the gradient each tap's slice received: g_taps(t) -> [N, OH, OW, C].

    Overlapping windows (stride < kernel) share pixels, so each tap adds onto what is there.
    With ``where(t)`` (a mask per tap) and windows that do not overlap, each pixel belongs to at
    most one window and one tap: a masked copy does it without temporaries; when the windows
    tile the input exactly (VGG's 2x2 pools), every pixel is written once, so no zero-fill.
    """
    w = window
    hp, wp = w.padded_size
    overlap = w.sy < w.kh or w.sx < w.kw
    exact = (w.sy, w.sx) == (w.kh, w.kw) and (hp, wp) == (w.oh * w.kh, w.ow * w.kw)
    masked_tiles = where is not None and exact
    gxpad = (_memory.empty if masked_tiles else _memory.zeros)((w.n, hp, wp, w.c), dtype, xp)
    for t, (i, j) in enumerate(w.taps()):
        if masked_tiles:  # gx = gy where this tap won, else 0
            xp.multiply(g_taps(t), where(t), out=w.tap(gxpad, i, j))
        elif where is not None and not overlap:
            xp.copyto(w.tap(gxpad, i, j), g_taps(t), where=where(t))
        elif where is not None:
            w.tap(gxpad, i, j)[...] += xp.where(where(t), g_taps(t), dtype.type(0))
        else:
            w.tap(gxpad, i, j)[...] += g_taps(t)
    return channels_first(w.interior(gxpad))


# Output bytes per block of a pool's forward on the CPU (``_by_blocks``). A pool makes a sweep
# per tap over its output: block by block, the output stays in the core's cache (2 MB of L2
# here) for all of them, and main memory sees the input once and the output once. Measured on
# VGG16's first pool (2x2, [8, 64, 224, 224], 2 cores): 19-21 ms for one sweep per tap over
# the whole output, 8.8-9.0 ms in blocks of 512 KB on two threads (the second pool: 10 -> 4.5).
BLOCK_BYTES = 512 * 2**10


def _by_blocks(window, y, pass_):
    """Call ``pass_(b)`` for blocks ``b`` = (images, output rows) of channels-last ``y`` [N, OH,
    OW, C] of about ``BLOCK_BYTES``, shared among the threads of ``minidl.ops._parallel``."""
    row_bytes = window.ow * window.c * y.itemsize
    _parallel.run_blocks(lambda images, rows: pass_((images, rows)), window.n, window.oh,
                         row_bytes, BLOCK_BYTES)


def _max_of_taps(taps, y, argmax=None):
    """y = the elementwise maximum of ``taps`` (same-shaped arrays); ``argmax``, when given,
    the number of the tap that won, the first one on ties as in PyTorch."""
    y[...] = taps[0]
    if argmax is None:
        for tap in taps[1:]:
            np.maximum(y, tap, out=y)
        return
    argmax.fill(0)
    better = np.empty(y.shape, dtype=bool)
    for t, tap in enumerate(taps[1:], 1):
        # Strictly greater, so that a tie leaves the earlier tap the winner. Taps come in
        # increasing t, so the winner is the largest t that beat the max so far: argmax =
        # max(argmax, t * better), in the argmax's small integer type.
        np.greater(tap, y, out=better)
        np.maximum(argmax, np.multiply(better, argmax.dtype.type(t), dtype=argmax.dtype),
                   out=argmax)
        np.maximum(y, tap, out=y)


class MaxPool2d(Function):
    """[N, C, H, W] -> [N, C, OH, OW], the maximum of each window (padding never wins).

    On the GPU the kernel is limited to 256 taps (its argmax is a byte); the CPU has no limit.
    """

    def __init__(self, kernel_size, stride, padding=0, mode="truncate"):
        self.args = kernel_size, stride, padding, mode

    def forward(self, x):
        self.window = w = _window("max_pool2d", x, *self.args)
        if is_gpu_array(x):  # one kernel for all taps (minidl/ops/cuda/pool.cu)
            y, self.argmax = cuda.max_pool_forward(w, channels_last(x), any(self.needs_input_grad))
            return channels_first(y)
        xpad = _padded(w, channels_last(x), -np.inf)
        y = _memory.empty((w.n, w.oh, w.ow, w.c), x.dtype)  # contiguous channels-last
        # The argmax (the winning tap's number t) is kept for the backward, one per output:
        # a byte when the kernel has at most 256 taps (a quarter of an int32's memory and
        # traffic), else the smallest unsigned int that can number them (uint16 up to 65536).
        # Inference needs only the maximum.
        self.argmax = None
        if any(self.needs_input_grad):
            self.argmax = np.empty(y.shape, np.min_scalar_type(w.kh * w.kw - 1))
        taps = [w.tap(xpad, i, j) for i, j in w.taps()]
        _by_blocks(w, y, lambda b: _max_of_taps([tap[b] for tap in taps], y[b],
                                                None if self.argmax is None else self.argmax[b]))
        return channels_first(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        if is_gpu_array(gy):
            return channels_first(cuda.max_pool_backward(self.window, channels_last(gy),
                                                         self.argmax))
        gy_l = channels_last(gy)
        # Each output gradient goes to the tap that won its window.
        return _scatter_taps(self.window, lambda t: gy_l, gy.dtype, xp,
                             where=lambda t: self.argmax == t)


class AvgPool2d(Function):
    """[N, C, H, W] -> [N, C, OH, OW], the mean of each window.

    ``include_pad``: padded zeros count in the divisor (DL4J's avgPoolIncludePadInDivisor=true,
    PyTorch's count_include_pad=True); otherwise (DL4J's default) each window divides by the
    number of real pixels it covers.
    """

    def __init__(self, kernel_size, stride, padding=0, mode="truncate", include_pad=False):
        self.args = kernel_size, stride, padding, mode
        self.include_pad = include_pad

    def forward(self, x):
        self.window = w = _window("avg_pool2d", x, *self.args)
        if is_gpu_array(x):
            return channels_first(cuda.avg_pool_forward(w, channels_last(x), self.include_pad))
        xpad = _padded(w, channels_last(x), 0.0)
        self.divisor = divisor = self._divisor(np, x.dtype)
        y = _memory.empty((w.n, w.oh, w.ow, w.c), x.dtype)
        taps = [w.tap(xpad, i, j) for i, j in w.taps()]

        def block(b):
            total = y[b]
            total[...] = taps[0][b]
            for tap in taps[1:]:
                np.add(total, tap[b], out=total)
            np.divide(total, divisor if divisor.ndim == 0 else divisor[:, b[1]], out=total)

        _by_blocks(w, y, block)
        return channels_first(y)

    def _divisor(self, xp, dtype):
        """KH*KW, or the count of real pixels under each window: [1, OH, OW, 1]."""
        w = self.window
        if self.include_pad or not w.padded:
            return xp.asarray(w.kh * w.kw, dtype=dtype)
        ones = w.pad(xp.ones((1, w.h, w.w, 1), dtype=dtype), 0.0)
        return sum(w.tap(ones, i, j) for i, j in w.taps())

    def backward(self, gy):
        xp = get_array_module(gy)
        if is_gpu_array(gy):
            return channels_first(cuda.avg_pool_backward(self.window, channels_last(gy),
                                                         self.include_pad))
        g = channels_last(gy) / self.divisor  # every tap of a window gets the same share
        return _scatter_taps(self.window, lambda t: g, gy.dtype, xp)


def max_pool2d(x, kernel_size, stride=None, padding=0, mode="truncate"):
    """Max pooling of x [N, C, H, W] (see ``MaxPool2d``); ``stride`` defaults to ``kernel_size``,
    ``mode`` is DL4J's ConvolutionMode (truncate, same, strict)."""
    return MaxPool2d(kernel_size, kernel_size if stride is None else stride, padding, mode)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, mode="truncate", include_pad=False):
    """Average pooling of x [N, C, H, W] (see ``AvgPool2d`` for ``include_pad``); ``stride``
    defaults to ``kernel_size``."""
    stride = kernel_size if stride is None else stride
    return AvgPool2d(kernel_size, stride, padding, mode, include_pad)(x)


def sum_pool2d(x, kernel_size, stride=None, padding=0, mode="truncate"):
    """The sum of each window of x [N, C, H, W] (DL4J's SUM pooling): its mean over the whole
    kernel area, padded zeros counted (they add nothing to a sum), times that area."""
    kh, kw = pair(kernel_size, "kernel_size")
    return avg_pool2d(x, kernel_size, stride, padding, mode, include_pad=True) * float(kh * kw)


def pnorm_pool2d(x, p, kernel_size, stride=None, padding=0, mode="truncate"):
    """(sum of |x|^p over each window)^(1/p) of x [N, C, H, W] (DL4J's PNORM pooling)."""
    _require_norm("pnorm_pool2d", p)
    return PNormRoot(p)(sum_pool2d(AbsPower(p)(x), kernel_size, stride, padding, mode))


def _require_norm(op, p):
    if not p >= 1:
        raise ValueError(f"{op}: the norm p must be >= 1 (DL4J's pnorm), got {p}")


class AbsPower(Function):
    """|x|^p elementwise (p >= 1); its gradient p |x|^(p-1) sign(x) is 0 at x = 0."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x) ** self.p

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy * self.p * xp.abs(self.x) ** (self.p - 1) * xp.sign(self.x)


class PNormRoot(Function):
    """s^(1/p) of sums s >= 0 of p-th powers. Where s = 0 (a window of zeros) the true gradient
    is infinite; it is taken as 0 there, the subgradient that leaves such windows alone."""

    def __init__(self, p):
        self.p = p

    def forward(self, s):
        self.s = s
        self.y = s ** (1.0 / self.p)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        positive = self.s > 0
        return xp.where(positive, gy * self.y / (self.p * xp.where(positive, self.s, 1)), 0)


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
        _require_norm("global_pool", pnorm)
        return PNormRoot(pnorm)(math.sum(AbsPower(pnorm)(x), axis=axes))
    raise ValueError(f"global_pool: unknown pooling type {pooling!r}; expected MAX, AVG, SUM or PNORM")
