"""Depthwise 2-d convolution: every input channel convolved with filters of its own.

Shapes: x [N, C, H, W]; W [KH, KW, C, m] (DL4J's DepthwiseConvolution2D layout; m is its
depth_multiplier); b [C*m] -> y [N, C*m, OH, OW]. Output channel c*m + k is input channel c
convolved with W[:, :, c, k]. Nothing is summed over channels: each output number is KH*KW
multiply-adds, against KH*KW*C for a full convolution (MobileNetV2 is built on that saving).

The same weights in other frameworks' layouts (``from_torch`` and ``to_torch`` convert):

    Keras DepthwiseConv2D kernel (kh, kw, C, m)     this layout, as it is
    PyTorch Conv2d(C, C*m, k, groups=C).weight      [C*m, 1, kh, kw]; its output channel
        (torchvision's MobileNetV2)                 c*m + k is also input channel c, so
                                                    W = w.reshape(C, m, kh, kw)
                                                         .transpose(2, 3, 0, 1)

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
multiply-adds of an output-sized array, the whole output read and written once per tap.
``correlate``, ``weight_gradient`` and ``input_gradient``, the paths the op takes, compute the
same sums two faster ways, split over the CPU threads by images or bands of rows:

- compiled (the ``jit`` extra, when numba is installed; ``minidl.ops.jit`` says when): the
  plain loops over pixels, taps and channels (``minidl/ops/depthwise_jit.py``), reading the
  unpadded input and summing a 3x3 kernel's taps in registers: 2-3x faster than the einsums on
  MobileNetV2's layers, level with PyTorch's channels_last kernel;
- NumPy: einsums over windows views of the input (``minidl/ops/depthwise_einsum.py``), whose
  loops keep a running sum per output over the taps.

The input gradient at stride 1 is the forward's correlation of the zero-padded gy with the
flipped kernel (as in ``conv2d``); at larger strides the compiled loop gathers each pixel's
share, and NumPy's path does one correlation per stride phase of gx.

``bench/depthwise.py`` measures all of it against PyTorch.

GPU: one CUDA kernel for each of the forward, the input gradient and the weight gradient
(``minidl/ops/cuda/depthwise.cu``), which read the unpadded input and handle m themselves.
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _memory, activations, cuda, jit
from minidl.ops import depthwise_einsum as einsum
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


# -- the compiled loops (``minidl.ops.depthwise_jit``, when numba is installed) ------------------
def _compiled(a):
    """The compiled loops when they are on and take ``a`` (``minidl.ops.jit.kernels``), else
    None: the einsum paths then run."""
    return jit.kernels("minidl.ops.depthwise_jit", a)


def _geometry(window):
    """What the compiled loops need of ``window``: (sy, sx, pad_top, pad_left, dy, dx)."""
    return window.sy, window.sx, window.pad_top, window.pad_left, window.dy, window.dx


def _correlate_compiled(compiled, window, x_l, w, out, bias, activation):
    """``correlate`` by the compiled loop: no padded copy; bias and activation applied to each
    thread's part of ``out`` while it is in cache."""
    x_l, w, geometry = np.ascontiguousarray(x_l), np.ascontiguousarray(w), _geometry(window)

    def part(images, rows):
        compiled.correlate(x_l, w, out, geometry, images.start, images.stop,
                           rows.start, rows.stop)
        if bias is not None or activation is not None:
            y = out[images, rows]
            (activation or activations.IDENTITY).apply(y, bias, out=y)

    einsum.run_parts(part, window.n, window.oh, out.size)
    return out


def correlate(window, x_l, w, out, bias=None, activation=None):
    """out [N, OH, OW, C] = f(correlate_taps(window, padded x_l, w) + bias), in parallel: by the
    compiled loop when it runs (``_compiled``), else by einsum (``depthwise_einsum``). ``x_l``
    is the unpadded channels-last input [N, H, W, C]; ``activation`` is an
    ``ActivationFunction`` or None; ``out`` is written in place and returned."""
    compiled = _compiled(x_l)
    if compiled is not None:
        return _correlate_compiled(compiled, window, x_l, w, out, bias, activation)
    return einsum.correlate(window, x_l, w, out, bias, activation)


def weight_gradient(window, x_l, gy_l):
    """gW [KH, KW, C] = sum over N, OH, OW of tap_ij(padded x_l) * gy, in parallel: by the
    compiled loop when it runs, else by einsum (``depthwise_einsum.weight_gradient``)."""
    compiled = _compiled(x_l)
    if compiled is None:
        return einsum.weight_gradient(window, x_l, gy_l)
    partial = {}  # one gW per part, added up in a fixed order: the same result every run
    x_l, geometry = np.ascontiguousarray(x_l), _geometry(window)

    def part(images, rows):
        g = np.empty((window.kh, window.kw, gy_l.shape[3]), gy_l.dtype)
        compiled.weight_gradient(x_l, gy_l, g, geometry, images.start, images.stop,
                                 rows.start, rows.stop)
        partial[images.start, rows.start] = g

    einsum.run_parts(part, window.n, window.oh, gy_l.size)
    return sum(partial[key] for key in sorted(partial))


def input_gradient(window, gy_l, w):
    """gx [N, H, W, C] for gy [N, OH, OW, C] and w [KH, KW, C].

    Stride 1: gx is the forward's correlation of gy, zero-padded, with the flipped kernel
    (``Window.gradient_window``). A larger stride: the compiled loop that gathers each pixel's
    share (``_compiled``), or else one such correlation per stride phase
    (``depthwise_einsum.phase_gradient``); dilated and strided, each tap scatters its share
    back (``depthwise_einsum.scatter_taps``).
    """
    gwin = window.gradient_window(gy_l.shape[3])
    if gwin is not None:
        gx = _memory.empty((window.n, window.h, window.w, gy_l.shape[3]), gy_l.dtype)
        return correlate(gwin, gy_l, w[::-1, ::-1], gx)
    compiled = _compiled(gy_l)
    if compiled is not None:
        gx = _memory.empty((window.n, window.h, window.w, gy_l.shape[3]), gy_l.dtype)
        gy_l, w, geometry = np.ascontiguousarray(gy_l), np.ascontiguousarray(w), _geometry(window)
        einsum.run_parts(lambda images, rows: compiled.input_gradient(
            gy_l, w, gx, geometry, images.start, images.stop, rows.start, rows.stop),
            window.n, window.h, gx.size)
        return gx
    phases = window.gradient_phases()
    if phases is not None:
        return einsum.phase_gradient(window, gy_l, w, phases)
    return window.interior(einsum.scatter_taps(window, gy_l, w))


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
    ``activation``: an ``ActivationFunction`` whose derivative comes from its output, or None."""

    def __init__(self, stride=1, padding=0, dilation=1, mode="truncate", activation=None):
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode
        self.activation = activation

    def forward(self, x, W, b=None):
        _check_inputs(x, W, b)
        self.window = window = Window(OP, x.shape, W.shape[:2], self.stride, self.padding,
                                      self.dilation, self.mode)
        self.W, self.has_bias = W, b is not None
        if is_gpu_array(x):  # one kernel (minidl/ops/cuda/depthwise.cu), then bias + f
            saved = get_array_module(x).ascontiguousarray(channels_last(x))
            y = cuda.depthwise_forward(window, saved, W)
            if b is not None or self.activation is not None:
                (self.activation or activations.IDENTITY).apply(y, b, out=y)
        else:
            kh, kw, c, m = W.shape
            saved = _repeat(channels_last(x), m)  # a view of x itself when m = 1
            y = _memory.empty((window.n, window.oh, window.ow, c * m), x.dtype)
            correlate(window, saved, W.reshape(kh, kw, c * m), y, b, self.activation)
        # Keep the input only if gW will be asked for (a frozen layer keeps nothing); the
        # backward pads it again, image by image, as the forward did.
        self.saved = saved if self.needs_input_grad[1] else None
        self.y_l = y if self.activation and any(self.needs_input_grad) else None
        return channels_first(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        gy_l = channels_last(gy)
        if self.activation is not None:
            gy_l = self.activation.gradient(self.y_l, gy_l)
        gy_l = xp.ascontiguousarray(gy_l)
        need_x, need_W = self.needs_input_grad[:2]
        gx = self._grad_input(gy_l) if need_x else None
        gW = self._grad_weights(gy_l) if need_W else None
        return with_bias_gradient(self.has_bias, self.needs_input_grad, gx, gW, gy_l)

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
    if fused is not None and fused.needs_input:
        y = depthwise_conv2d(x, W, b, stride, padding, dilation, mode)
        return activations.activation(y, fused.name, fused.alpha)
    fn = DepthwiseConv2d(stride, padding, dilation, mode, fused)
    return fn(x, W) if b is None else fn(x, W, b)
