"""Sliding windows for convolution and pooling: output sizes, DL4J padding modes, im2col.

A 2-d convolution is a matrix product in disguise. For every output position (oy, ox) the
kernel sees one window of the input, C x KH x KW numbers. ``im2col`` copies every window into a
column of a matrix, so that the whole convolution becomes one GEMM of that matrix with the
kernel reshaped to [n_out, C*KH*KW]: a BLAS call does all the arithmetic. ``col2im`` is its
adjoint: it adds each column back onto the window it came from, which is exactly the gradient
w.r.t. the input (windows overlap, so contributions sum).
"""

import math

from minidl.backend import get_array_module
from minidl.ops._checks import pair

MODES = ("truncate", "same", "strict")


def _check_mode(mode):
    key = str(getattr(mode, "value", mode)).lower()
    if key not in MODES:
        raise ValueError(f"unknown convolution mode {mode!r}; expected one of: Truncate, Same, Strict")
    return key


def axis_padding(op, mode, size, kernel, stride, pad, dilation, axis_name):
    """(pad_before, pad_after, out_size) along one spatial axis under DL4J's convolution mode.

    Truncate: out = floor((size + 2*pad - k_eff) / stride) + 1 (rows that do not fit are dropped).
    Strict: the same, but the windows must tile the padded input exactly.
    Same: out = ceil(size / stride), padding computed (extra row at the bottom/right, as DL4J and
    TensorFlow do), the configured padding ignored.
    """
    k_eff = dilation * (kernel - 1) + 1
    if mode == "same":
        out = math.ceil(size / stride)
        total = max(0, (out - 1) * stride + k_eff - size)
        return total // 2, total - total // 2, out
    padded = size + 2 * pad
    if k_eff > padded:
        raise ValueError(f"{op}: kernel {kernel} (effective {k_eff} with dilation {dilation}) is "
                         f"larger than the padded input {axis_name} {padded} "
                         f"(input {size} + 2 x padding {pad})")
    if mode == "strict" and (padded - k_eff) % stride:
        raise ValueError(f"{op}: Strict convolution mode: input {axis_name} {size} with kernel "
                         f"{kernel}, stride {stride}, padding {pad} does not tile exactly; use "
                         f"ConvolutionMode.Truncate or Same, or change the padding")
    return pad, pad, (padded - k_eff) // stride + 1


class Window:
    """The geometry of one sliding-window op on an [N, C, H, W] input."""

    def __init__(self, op, x_shape, kernel_size, stride=1, padding=0, dilation=1, mode="truncate"):
        self.kh, self.kw = pair(kernel_size, "kernel_size")
        self.sy, self.sx = pair(stride, "stride")
        self.dy, self.dx = pair(dilation, "dilation")
        py, px = pair(padding, "padding")
        mode = _check_mode(mode)
        _, _, h, w = x_shape
        self.pad_top, self.pad_bottom, self.oh = axis_padding(
            op, mode, h, self.kh, self.sy, py, self.dy, "height")
        self.pad_left, self.pad_right, self.ow = axis_padding(
            op, mode, w, self.kw, self.sx, px, self.dx, "width")
        self.x_shape = tuple(x_shape)

    @property
    def padded(self):
        return bool(self.pad_top or self.pad_bottom or self.pad_left or self.pad_right)

    def pad(self, x, value=0.0):
        """``x`` with this window's zero (or ``value``) border."""
        if not self.padded:
            return x
        xp = get_array_module(x)
        widths = ((0, 0), (0, 0), (self.pad_top, self.pad_bottom), (self.pad_left, self.pad_right))
        return xp.pad(x, widths, mode="constant", constant_values=value)

    def rows(self, i):
        """Slice of padded rows that kernel row i visits, one per output row."""
        start = i * self.dy
        return slice(start, start + self.sy * (self.oh - 1) + 1, self.sy)

    def cols(self, j):
        start = j * self.dx
        return slice(start, start + self.sx * (self.ow - 1) + 1, self.sx)

    def im2col(self, x, value=0.0):
        """[N, C, H, W] -> [N, C, KH, KW, OH, OW]: every window of the padded input."""
        xp = get_array_module(x)
        xp_ = self.pad(x, value)
        n, c = x.shape[:2]
        col = xp.empty((n, c, self.kh, self.kw, self.oh, self.ow), dtype=x.dtype)
        for i in range(self.kh):
            for j in range(self.kw):
                col[:, :, i, j] = xp_[:, :, self.rows(i), self.cols(j)]
        return col

    def col2im(self, col):
        """Adjoint of im2col: [N, C, KH, KW, OH, OW] -> [N, C, H, W], overlaps summed."""
        xp = get_array_module(col)
        n, c, h, w = self.x_shape
        hp = h + self.pad_top + self.pad_bottom
        wp = w + self.pad_left + self.pad_right
        x = xp.zeros((n, c, hp, wp), dtype=col.dtype)
        for i in range(self.kh):
            for j in range(self.kw):
                x[:, :, self.rows(i), self.cols(j)] += col[:, :, i, j]
        return x[:, :, self.pad_top:self.pad_top + h, self.pad_left:self.pad_left + w]
