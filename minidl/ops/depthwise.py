"""Depthwise 2-d convolution: every input channel convolved with filters of its own.

Shapes: x [N, C, H, W]; W [KH, KW, C, m] (DL4J's DepthwiseConvolution2D layout; m is its
depth_multiplier); b [C*m] -> y [N, C*m, OH, OW]. Output channel c*m + k is input channel c
convolved with W[:, :, c, k]. Nothing is summed over channels: each output number is KH*KW
multiply-adds, against KH*KW*C for a full convolution (MobileNetV2 is built on that saving).

The same weights in other frameworks' layouts (``from_torch`` and ``to_torch`` convert):

    Keras DepthwiseConv2D kernel (kh, kw, C, m)         this layout, as it is
    PyTorch Conv2d(C, C*m, k, groups=C).weight          [C*m, 1, kh, kw]; its output channel
        (torchvision's MobileNetV2)                     c*m + k is also input channel c, so
                                                        W = w.reshape(C, m, kh, kw).transpose(2, 3, 0, 1)

The math, channels-last like every window op (``minidl.ops.window``). Tap (i, j) is the
[N, OH, OW, C] strided view of the padded input that kernel tap (i, j) meets (``Window.tap``):

    forward   y[..., c]   = sum over taps (i, j) of tap_ij[..., c] * W[i, j, c]
    backward  gW[i, j, c] = sum over N, OH, OW of tap_ij[..., c] * gy[..., c]
              gx: every tap sends gy * W[i, j] back to the pixels it read (``scatter_taps``)
              gb = sum of gy over N, OH, OW

written here for m = 1. A depth multiplier m is the m = 1 case on the input with every channel
repeated m times (channel c*m + k of the repeated input is channel c: ``_repeat``), and W
[KH, KW, C, m] read as [KH, KW, C*m]; the input gradient then sums each channel's m copies.

Why not im2col + GEMM, as ``conv2d`` does: there is no sum over channels for a GEMM to do. The
im2col matrix would copy KH*KW times the input for one multiply per copied number, and one
small GEMM per channel ([OH*OW, KH*KW] @ [KH*KW, m]) is far too small for BLAS to run at speed.

Speed (CPU). ``correlate_taps`` is the forward exactly as written above: KH*KW vectorised
multiply-adds of an output-sized array. ``correlate``, the path the op takes, computes the
same sums with one ``einsum`` over the windows view of the padded input (``Window.windows``,
no copy), whose C loop keeps each output's running sum in a register instead of reading and
writing the whole output once per tap: about 2.5x faster (measured on MobileNetV2's [8, 144,
56, 56] 3x3 layer). The weight gradient is an einsum the same way, the input gradient at stride
1 the forward's path again (a correlation of the zero-padded gy with the flipped kernel, as in
``conv2d``), and at larger strides the tap scatter. Work is split over the CPU threads by
images, or by bands of output rows when there are fewer images than threads
(``minidl.ops._parallel``); bias and activation are applied to each band while it is in cache.
``bench/depthwise.py`` measures all of it against PyTorch.

GPU: one CUDA kernel for each of the forward, the input gradient and the weight gradient
(``minidl/ops/cuda/depthwise.cu``), which read the unpadded input and handle m themselves.
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _memory, _parallel, activations, cuda
from minidl.ops._checks import require_float, require_ndim, with_bias_gradient
from minidl.ops.window import Window, channels_first, channels_last

OP = "depthwise_conv2d"


# -- layouts -----------------------------------------------------------------------------------
def from_torch(w, depth_multiplier=1):
    """PyTorch's grouped-conv weight [C*m, 1, kh, kw] -> W [kh, kw, C, m] (DL4J's, Keras')."""
    c_m, one, kh, kw = w.shape
    if one != 1 or c_m % depth_multiplier:
        raise ValueError(f"{OP}: expected a torch depthwise weight [C*m, 1, kh, kw] with m="
                         f"{depth_multiplier}, got shape {tuple(w.shape)}")
    return w.reshape(c_m // depth_multiplier, depth_multiplier, kh, kw).transpose(2, 3, 0, 1)


def to_torch(W):
    """W [kh, kw, C, m] -> PyTorch's Conv2d(C, C*m, k, groups=C).weight [C*m, 1, kh, kw]."""
    kh, kw, c, m = W.shape
    return W.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)


# -- the plain form and the fast path (CPU, channels-last, m = 1) ------------------------------
def correlate_taps(window, xpad, w):
    """y [N, OH, OW, C] = sum over taps of tap_ij(xpad) * w[i, j]: the definition, one
    vectorised multiply-add per kernel tap. ``w`` is [KH, KW, C]."""
    xp = get_array_module(xpad)
    y = xp.zeros((xpad.shape[0], window.oh, window.ow, xpad.shape[3]), xpad.dtype)
    for i, j in window.taps():
        y += window.tap(xpad, i, j) * w[i, j]
    return y


def _parts(window):
    """(images, rows) slices that split the output over the CPU threads: by images when there
    are enough of them, else by bands of output rows."""
    if window.n >= _parallel.THREADS or window.oh < 2:
        return [(s, slice(0, window.oh)) for s in _parallel.cuts(window.n, _parallel.THREADS)]
    return [(slice(0, window.n), s) for s in _parallel.cuts(window.oh, _parallel.THREADS)]


def correlate(window, xpad, w, out, bias=None, activation=None):
    """out [N, OH, OW, C] = f(correlate_taps(window, xpad, w) + bias), by einsum, in parallel.

    ``activation`` is (name, alpha) or None; ``out`` is contiguous and written in place.
    """
    def part(images, rows):
        y = out[images, rows]
        np.einsum("nhwijc,ijc->nhwc", window.windows(xpad[images], (rows.start, rows.stop)), w,
                  out=y)
        if bias is not None or activation is not None:
            name, alpha = activation or ("identity", None)
            activations.apply(y, name, alpha, bias, out=y)

    _parallel.run([lambda p=p: part(*p) for p in _parts(window)])
    return out


def weight_gradient(window, xpad, gy_l):
    """gW [KH, KW, C] = sum over N, OH, OW of tap_ij(xpad) * gy, by einsum, in parallel."""
    parts = _parts(window)
    partial = [None] * len(parts)  # one gW per part, added up at the end

    def part(k, images, rows):
        windows = window.windows(xpad[images], (rows.start, rows.stop))
        partial[k] = np.einsum("nhwijc,nhwc->ijc", windows, gy_l[images, rows])

    _parallel.run([lambda k=k: part(k, *parts[k]) for k in range(len(parts))])
    return sum(partial[1:], partial[0])


def scatter_taps(window, gy_l, w):
    """gxpad [N, Hp, Wp, C]: every tap adds gy * w[i, j] onto the padded pixels it read.

    Taps of neighbouring windows overlap when the stride is smaller than the kernel, so each
    tap adds onto what is there. The images are independent: split over the threads.
    """
    hp, wp = window.padded_size
    gxpad = _memory.zeros((window.n, hp, wp, gy_l.shape[3]), gy_l.dtype)

    def part(images):
        g, dy = gxpad[images], gy_l[images]
        scratch = np.empty_like(dy)
        for i, j in window.taps():
            np.multiply(dy, w[i, j], out=scratch)
            window.tap(g, i, j)[...] += scratch

    _parallel.run([lambda s=s: part(s) for s in _parallel.cuts(window.n, _parallel.THREADS)])
    return gxpad


def input_gradient(window, gy_l, w):
    """gx [N, H, W, C] for gy [N, OH, OW, C] and w [KH, KW, C].

    Stride 1: gx is the forward's correlation of gy, zero-padded, with the flipped kernel
    (``Window.gradient_window``). Otherwise each tap scatters its share back.
    """
    gwin = window.gradient_window(gy_l.shape[3])
    if gwin is None:
        return window.interior(scatter_taps(window, gy_l, w))
    gx = _memory.empty((window.n, window.h, window.w, gy_l.shape[3]), gy_l.dtype)
    return correlate(gwin, gwin.pad(gy_l), w[::-1, ::-1], gx)


# -- the Function ------------------------------------------------------------------------------
def _repeat(x_l, m):
    """Channels-last x [..., C] with every channel repeated m times: [..., C*m]."""
    return x_l if m == 1 else get_array_module(x_l).repeat(x_l, m, axis=-1)


def _check_inputs(x, W, b):
    require_float(OP, "the input", x)
    require_float(OP, "the weights", W)
    require_ndim(OP, "the input", x, 4, "[batch, channels, height, width]")
    require_ndim(OP, "the weights", W, 4, "[kh, kw, n_in, depth_multiplier]")
    if x.shape[1] != W.shape[2]:
        raise ValueError(f"{OP}: input has {x.shape[1]} channels (shape {tuple(x.shape)}) but "
                         f"the weights [kh, kw, n_in, depth_multiplier] expect n_in={W.shape[2]} "
                         f"(W shape {tuple(W.shape)})")
    n_out = W.shape[2] * W.shape[3]
    if b is not None and tuple(b.shape) != (n_out,):
        raise ValueError(f"{OP}: bias of shape {tuple(b.shape)} does not match n_in * "
                         f"depth_multiplier = {n_out} (W shape {tuple(W.shape)}); expected "
                         f"({n_out},)")
    if x.dtype != W.dtype:
        raise ValueError(f"{OP}: input dtype {x.dtype} differs from weight dtype {W.dtype} "
                         f"(shapes {tuple(x.shape)} and {tuple(W.shape)}); cast one of them")


class DepthwiseConv2d(Function):
    """See the module docstring; ``mode`` is DL4J's ConvolutionMode (Truncate, Same, Strict);
    ``activation`` (name, alpha) of an activation whose derivative comes from its output."""

    def __init__(self, stride=1, padding=0, dilation=1, mode="truncate", activation=None):
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode
        self.activation = activation

    def forward(self, x, W, b=None):
        _check_inputs(x, W, b)
        self.window = window = Window(OP, x.shape, W.shape[:2], self.stride, self.padding,
                                      self.dilation, self.mode)
        self.W = W
        if is_gpu_array(x):  # one kernel (minidl/ops/cuda/depthwise.cu), then bias + f
            saved = get_array_module(x).ascontiguousarray(channels_last(x))
            y = cuda.depthwise_forward(window, saved, W)
            if b is not None or self.activation is not None:
                name, alpha = self.activation or ("identity", None)
                activations.apply(y, name, alpha, b, out=y)
        else:
            kh, kw, c, m = W.shape
            saved = window.pad(_repeat(channels_last(x), m))
            y = _memory.empty((window.n, window.oh, window.ow, c * m), x.dtype)
            correlate(window, saved, W.reshape(kh, kw, c * m), y, b, self.activation)
        # Keep the input only if gW will be asked for (a frozen layer keeps nothing).
        need_W = len(self.needs_input_grad) > 1 and self.needs_input_grad[1]
        self.saved = saved if need_W else None
        self.y_l = y if self.activation and any(self.needs_input_grad) else None
        return channels_first(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        gy_l = channels_last(gy)
        if self.activation is not None:
            gy_l = activations.gradient(self.y_l, gy_l, *self.activation)
        gy_l = xp.ascontiguousarray(gy_l)
        need_x, need_W = self.needs_input_grad[:2]
        gx = self._grad_input(gy_l) if need_x else None
        gW = self._grad_weights(gy_l) if need_W else None
        return with_bias_gradient(self.needs_input_grad, gx, gW, gy_l)

    def _grad_input(self, gy_l):
        window, W = self.window, self.W
        if is_gpu_array(gy_l):
            return channels_first(cuda.depthwise_backward_input(window, gy_l, W))
        kh, kw, c, m = W.shape
        gx = input_gradient(window, gy_l, W.reshape(kh, kw, c * m))
        if m > 1:  # the m copies of each input channel (``_repeat``) add up
            gx = gx.reshape(*gx.shape[:3], c, m).sum(axis=-1)
        return channels_first(gx)

    def _grad_weights(self, gy_l):
        if is_gpu_array(gy_l):
            return cuda.depthwise_backward_weight(self.window, self.saved, gy_l, self.W.shape[3])
        return weight_gradient(self.window, self.saved, gy_l).reshape(self.W.shape)


def depthwise_conv2d(x, W, b=None, stride=1, padding=0, dilation=1, mode="truncate",
                     activation=None, alpha=None):
    """Depthwise-convolve NCHW ``x`` with ``W`` [kh, kw, n_in, depth_multiplier] (+ ``b``
    [n_in * depth_multiplier]); see the module docstring.

    ``activation`` (an elementwise activation's name, ``alpha`` its parameter) is applied to the
    result inside the op when its derivative comes from its output (``activations.from_output``),
    after it otherwise (swish). Returns an [N, n_in * depth_multiplier, OH, OW] tensor whose
    memory is channels-last, as ``conv2d``'s.
    """
    fused = None if activation is None else activations.resolve(activation, alpha)
    if fused is not None and not activations.from_output(fused[0]):
        y = depthwise_conv2d(x, W, b, stride, padding, dilation, mode)
        return activations.activation(y, *fused)
    fn = DepthwiseConv2d(stride, padding, dilation, mode, fused)
    return fn(x, W) if b is None else fn(x, W, b)
