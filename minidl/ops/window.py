"""Sliding windows for convolution and pooling: output sizes, DL4J padding modes, im2col.

Geometry. A window op slides a KH x KW kernel (taps spaced ``dilation`` apart) over the
padded input with a ``stride``; ``Window`` works out the padding and output size per DL4J's
convolution modes (Truncate, Same, Strict) and hands out the input slice each kernel tap sees.

Layout. Public arrays are NCHW ([batch, channels, height, width], DL4J's layout), but every
window op here works *channels-last*, on [N, H, W, C] arrays. There the C numbers of one pixel
are contiguous, so one kernel tap of a whole image is a block of contiguous C-vectors and the
im2col matrix below has the channels of each tap side by side. The ops turn an NCHW array into
its channels-last view with ``channels_last(x)`` (a transpose: no copy) and return their result
as ``channels_first(y)``: an array of NCHW *shape* whose memory is channels-last (what PyTorch
calls the channels_last memory format). The next window op then gets its channels-last view for
free, so a whole network runs without any layout conversion while every public boundary keeps
NCHW indexing. NumPy and CuPy handle such strided arrays transparently everywhere else.

im2col. A 2-d convolution is a matrix product in disguise. For every output pixel (oy, ox) the
kernel sees one window of the padded input, KH x KW x C numbers. ``im2col`` copies every window
into one row of a matrix [N*OH*OW, KH*KW*C], so that the convolution becomes a single GEMM of
that matrix with the kernel reshaped to [KH*KW*C, n_out]: a BLAS call does all the arithmetic.
``col2im`` is its adjoint: it adds every row back onto the window it came from (windows overlap,
so contributions sum), which is exactly the gradient w.r.t. the input.

GPU seam: ``Window.im2col``, ``Window.col2im`` and the pooling loops are the functions a CUDA
kernel replaces; everything here uses only the array module of its input (NumPy or CuPy).
"""

import math

from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _memory, cuda
from minidl.ops._checks import pair

MODES = ("truncate", "same", "strict")


def channels_last(x):
    """[N, C, H, W] -> [N, H, W, C] as a view (no copy)."""
    return x.transpose(0, 2, 3, 1)


def channels_first(x):
    """[N, H, W, C] -> [N, C, H, W] as a view (no copy): NCHW shape, channels-last memory."""
    return x.transpose(0, 3, 1, 2)


def _check_mode(mode):
    key = str(getattr(mode, "value", mode)).lower()
    if key not in MODES:
        raise ValueError(f"unknown convolution mode {mode!r}; expected one of: Truncate, Same, Strict")
    return key


def axis_padding(op, mode, size, kernel, stride, pad, dilation, axis_name):
    """(pad_before, pad_after, out_size) along one spatial axis under DL4J's convolution mode.

    Truncate: out = floor((size + 2*pad - k_eff) / stride) + 1 (rows that do not fit are dropped).
    Strict: the same, but the windows must tile the padded input exactly.
    Same: out = ceil(size / stride); the configured padding is ignored and the total needed,
    (out - 1) * stride + k_eff - size, is split with floor(total / 2) before and the rest after:
    the odd extra row goes to the bottom/right, as DL4J's ConvolutionUtils.getSameModeTopLeftPadding
    (and TensorFlow) place it.
    k_eff = dilation * (kernel - 1) + 1 is the span of a dilated kernel.
    """
    if kernel < 1 or stride < 1 or dilation < 1 or pad < 0:
        raise ValueError(f"{op}: kernel size, stride and dilation must be >= 1 and padding >= 0 "
                         f"along the {axis_name}, got kernel {kernel}, stride {stride}, dilation "
                         f"{dilation}, padding {pad}")
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
    """The geometry of one sliding-window op on an NCHW input of shape ``x_shape``.

    Attributes: kernel ``kh, kw``; stride ``sy, sx``; dilation ``dy, dx``; padding
    ``pad_top, pad_bottom, pad_left, pad_right``; output size ``oh, ow``; input ``n, c, h, w``.
    The constructor works padding and output size out from DL4J's mode; ``Window.explicit``
    takes them as given. The array methods take and return channels-last arrays (see the module
    docstring).
    """

    def __init__(self, op, x_shape, kernel_size, stride=1, padding=0, dilation=1, mode="truncate"):
        kh, kw = pair(kernel_size, "kernel_size")
        sy, sx = pair(stride, "stride")
        dy, dx = pair(dilation, "dilation")
        py, px = pair(padding, "padding")
        mode = _check_mode(mode)
        h, w = x_shape[2:]
        top, bottom, oh = axis_padding(op, mode, h, kh, sy, py, dy, "height")
        left, right, ow = axis_padding(op, mode, w, kw, sx, px, dx, "width")
        self._set(op, x_shape, (kh, kw), (sy, sx), (dy, dx), (top, bottom, left, right), (oh, ow))

    @classmethod
    def explicit(cls, op, x_shape, kernel_size, stride, dilation, padding, out_size):
        """A Window of the given geometry, worked out by the caller rather than from a mode.

        ``kernel_size``, ``stride``, ``dilation``, ``out_size``: (height, width) pairs;
        ``padding``: (top, bottom, left, right), which may be uneven.
        """
        window = cls.__new__(cls)  # __init__ would work the padding out from a mode
        window._set(op, x_shape, kernel_size, stride, dilation, padding, out_size)
        return window

    def _set(self, op, x_shape, kernel_size, stride, dilation, padding, out_size):
        self.op = op
        self.n, self.c, self.h, self.w = x_shape
        self.kh, self.kw = kernel_size
        self.sy, self.sx = stride
        self.dy, self.dx = dilation
        self.pad_top, self.pad_bottom, self.pad_left, self.pad_right = padding
        self.oh, self.ow = out_size

    # -- geometry ----------------------------------------------------------------------------
    @property
    def padded(self):
        return bool(self.pad_top or self.pad_bottom or self.pad_left or self.pad_right)

    @property
    def padded_size(self):
        """(Hp, Wp): the input size with its border."""
        return (self.h + self.pad_top + self.pad_bottom, self.w + self.pad_left + self.pad_right)

    def taps(self):
        """(i, j) of every kernel tap, row by row (the order of im2col's columns)."""
        return [(i, j) for i in range(self.kh) for j in range(self.kw)]

    def tap(self, xpad, i, j):
        """The [N, OH, OW, C] view of padded channels-last ``xpad`` that kernel tap (i, j) sees.

        Output pixel (oy, ox) meets padded pixel (oy * stride + i * dilation, ox * stride + j *
        dilation) through tap (i, j): a strided slice, not a copy.
        """
        top, left = i * self.dy, j * self.dx
        rows = slice(top, top + self.sy * (self.oh - 1) + 1, self.sy)
        cols = slice(left, left + self.sx * (self.ow - 1) + 1, self.sx)
        return xpad[:, rows, cols]

    def gradient_window(self, n_out):
        """The Window of gx = (gy, zero-padded) correlated with the flipped kernel, or None.

        Its input is gy [N, n_out, OH, OW] and its output has the size of x.

        For stride 1, y[oy] = sum_i xpad[oy + i*d] W[i] gives gx[h] = sum_i gy[h + pad_top - i*d]
        W[i]: a stride-1 correlation of gy, padded by k_eff - 1 - pad_top before and
        k_eff - 1 - pad_bottom after, with the kernel flipped (i -> KH - 1 - i). That lets the
        input gradient reuse the fast forward path instead of a scatter-add (col2im). It needs
        stride 1 and padding no wider than k_eff - 1 (else the gy padding would be negative).
        """
        if (self.sy, self.sx) != (1, 1):
            return None
        # k_eff - 1 per axis: how far the last kernel tap lies from the first
        span_h, span_w = self.dy * (self.kh - 1), self.dx * (self.kw - 1)
        pads = (span_h - self.pad_top, span_h - self.pad_bottom,
                span_w - self.pad_left, span_w - self.pad_right)
        if min(pads) < 0:
            return None
        return Window.explicit(self.op, (self.n, n_out, self.oh, self.ow), (self.kh, self.kw),
                               (1, 1), (self.dy, self.dx), pads, (self.h, self.w))

    def gradient_phases(self):
        """The input gradient at any stride, as stride-1 correlations of gy: (pads, phases).

        With stride s the padded pixel hp = oy * s + i meets only the taps i = hp mod s, s + that,
        ... So the pixels of one phase, hp = a * s + r, take gx[a * s + r] = sum over t of
        gy[a - t] * W[r + t * s]: a stride-1 correlation of gy with the kernel's taps r, r + s,
        ... read backwards. A phase of the image is rows h0, h0 + s, ... (and columns alike) of
        the unpadded gx; the s * s phases together are every pixel, each written once: no
        scatter-add, no zeroed buffer. ``pads`` (top, bottom, left, right) is the zero border
        of gy that every phase's windows stay inside; each phase is ((h0, rows, row_taps,
        row_start), (w0, cols, col_taps, col_start)): its first pixel, how many it has, the
        kernel taps in correlation order (none where the stride is longer than the kernel:
        those pixels meet no tap) and where its windows start in the padded gy. Needs
        dilation 1 (None otherwise).
        """
        if (self.dy, self.dx) != (1, 1):
            return None
        rows, top, bottom = _axis_phases(self.h, self.kh, self.sy, self.pad_top, self.oh)
        cols, left, right = _axis_phases(self.w, self.kw, self.sx, self.pad_left, self.ow)
        return (top, bottom, left, right), [(r, c) for r in rows for c in cols]

    # -- arrays (channels-last) --------------------------------------------------------------
    def pad(self, x, value=0.0):
        """Channels-last ``x`` [N, H, W, C] inside a ``value`` border: a new contiguous array."""
        xp = get_array_module(x)
        hp, wp = self.padded_size
        n, c = x.shape[0], x.shape[3]
        xpad = _memory.empty((n, hp, wp, c), x.dtype, xp)
        if self.padded:
            # Fill only the border strips; the interior is overwritten by the copy below.
            xpad[:, :self.pad_top] = value
            xpad[:, hp - self.pad_bottom:] = value
            xpad[:, :, :self.pad_left] = value
            xpad[:, :, wp - self.pad_right:] = value
        self.interior(xpad)[...] = x
        return xpad

    def padded_input(self, x):
        """``pad(x)``, or channels-last ``x`` itself when there is no border to add and it is
        contiguous already (the output of the previous window op usually is): no copy."""
        if not self.padded and x.flags.c_contiguous:
            return x
        return self.pad(x)

    def interior(self, xpad):
        """The [N, H, W, C] view of a padded array without its border (undoes ``pad``)."""
        return xpad[:, self.pad_top:self.pad_top + self.h, self.pad_left:self.pad_left + self.w]

    def windows(self, xpad, rows=None):
        """Every window of padded ``xpad`` [n, Hp, Wp, C] as a [n, oh, OW, KH, KW, C] *view*.

        No data moves: the view's strides step ``stride`` pixels between output pixels and
        ``dilation`` pixels between kernel taps. ``rows=(oy0, oy1)`` limits it to those output
        rows (oh = oy1 - oy0). Treat it as read-only: its windows overlap in memory.
        """
        xp = get_array_module(xpad)
        oy0, oy1 = rows if rows is not None else (0, self.oh)
        s_n, s_h, s_w, s_c = xpad.strides
        return xp.lib.stride_tricks.as_strided(
            xpad[:, oy0 * self.sy:],
            shape=(xpad.shape[0], oy1 - oy0, self.ow, self.kh, self.kw, xpad.shape[3]),
            strides=(s_n, s_h * self.sy, s_w * self.sx, s_h * self.dy, s_w * self.dx, s_c))

    def im2col(self, xpad, rows=None, out=None):
        """Padded channels-last [n, Hp, Wp, C] -> columns [n, oh, OW, KH, KW, C] (a copy).

        ``col[b, oy, ox]`` read as a flat row of KH*KW*C numbers is the window under output
        pixel (oy, ox), so ``col.reshape(-1, KH*KW*C)`` is the im2col matrix. It is a single copy
        of the ``windows`` view, into ``out`` when a buffer is given. ``rows`` as in ``windows``.
        """
        if is_gpu_array(xpad):
            return cuda.im2col(self, xpad, rows, out)  # one kernel (minidl/ops/cuda/im2col.cu)
        view = self.windows(xpad, rows)
        if out is None:
            return view.copy()
        out[...] = view
        return out

    def col2im(self, col):
        """Adjoint of ``im2col``: columns [n, OH, OW, KH, KW, C] -> padded [n, Hp, Wp, C].

        Every window adds its column back where it was read from; overlapping windows sum.
        """
        if is_gpu_array(col):
            return cuda.col2im(self, col)  # one gather kernel instead of KH*KW passes
        xp = get_array_module(col)
        hp, wp = self.padded_size
        xpad = _memory.zeros((col.shape[0], hp, wp, col.shape[5]), col.dtype, xp)
        for i, j in self.taps():
            self.tap(xpad, i, j)[...] += col[:, :, :, i, j]
        return xpad


def _axis_phases(size, kernel, stride, pad_lo, n_out):
    """One axis of ``Window.gradient_phases``: its phases, and gy's zero border (lo, hi)."""
    lo = -(-kernel // stride) - 1  # the most taps a phase has, less one
    phases, hi = [], 0
    for first in range(min(stride, size)):
        r, a0 = (first + pad_lo) % stride, (first + pad_lo) // stride
        taps = list(range(r, kernel, stride))[::-1]
        count = len(range(first, size, stride))
        phases.append((first, count, taps, a0 - len(taps) + 1 + lo))
        hi = max(hi, a0 + count - n_out)  # gy rows past the last that a phase's windows read
    return phases, lo, hi
