"""2-d convolution (cross-correlation, as in every DL framework) on NCHW arrays.

Shapes: x [N, C, H, W], W [n_out, C, KH, KW] (DL4J's layout), b [n_out] -> y [N, n_out, OH, OW].

The algorithm. With col = im2col(xpad) of shape [N*OH*OW, KH*KW*C] (one row per output pixel:
the window of the padded input under it, see ``minidl.ops.window``) and W_mat = W rearranged
to [KH*KW*C, n_out] (rows in the (i, j, c) order of col's columns):

    forward   y_mat = f(col @ W_mat + b)       one GEMM; y_mat is y channels-last [N*OH*OW, n_out]
    backward  gz = gy * f'(z), from y alone    (``ActivationFunction.gradient``)
              gW_mat = col^T @ gz_mat          each weight met every window it was applied to
              gx = col2im(gz_mat @ W_mat^T)    each window sends its gradient back to its pixels
              gb = gz summed over N, OH, OW

That is all of ``im2col_forward``, ``im2col_grad_weights`` and ``col2im_grad_input`` below. The
work is done channels-last, so the output of the GEMM *is* the next layer's input (returned as
an NCHW-shaped view, no transposition copy), and the activation f is applied to it in place
(on the GPU one fused bias + activation kernel).

Fast paths, each computing exactly that, and the one function that picks them
(``choose_algorithm``, whose docstring says when and why each applies):

- pointwise: a 1x1 kernel without padding reads the input's pixels themselves, so its GEMMs
  run on the channels-last input as it is (at stride 1; a stride picks every s-th pixel in
  one copy) and its kernel matrix is a transposed view of W: no padding, no columns, no copy.
- blocked: the same GEMMs block by block (whole images, or bands of output rows of one image),
  each block's columns about ``COL_CHUNK_BYTES`` in one reused buffer. The column matrix of a
  whole batch is KH*KW times the input (9x for a 3x3 kernel, gigabytes for VGG16's first
  layers), while a block stays warm in cache between the copy that writes it and the GEMM.
- winograd: 3x3 stride-1 convolutions with many channels, on the CPU, by Winograd F(2x2, 3x3)
  or, on large maps and wide layers, F(4x4, 3x3) (``minidl.ops.winograd``: 2.25x or 4x fewer
  multiplications).
- correlation: for stride 1 the input gradient is a convolution of the zero-padded gy with the
  flipped kernel (``Window.gradient_window``), so it runs on the forward's paths (Winograd
  included) instead of col2im's scatter-add.

Memory: the backward rebuilds the columns from the saved padded input instead of keeping them
from the forward; the padded input is saved only when the weights need a gradient, so a frozen
layer or ``no_grad()`` keeps none.
"""

import math
from typing import Callable, NamedTuple

import numpy as np

from minidl.autograd import Function, Tensor
from minidl.backend import device_of, get_array_module
from minidl.ops import _budget, _memory, winograd
from minidl.ops._checks import require_float, require_ndim, with_bias_gradient
from minidl.ops.activations import IDENTITY, resolve
from minidl.ops.window import Window, channels_first, channels_last


# -- the plain algorithm: one im2col, one GEMM -------------------------------------------------
def kernel_matrix(W):
    """W [n_out, C, KH, KW] -> W_mat [KH*KW*C, n_out], rows in im2col's (i, j, c) order.

    A copy, except for a 1x1 kernel: there W_mat is W [n_out, C] transposed, a view that BLAS
    reads as it is (copying ResNet50's 1x1 kernels cost ~5% of its forward); and except for a W
    whose memory is W_mat's already (``W_mat.reshape(KH, KW, C, n_out).transpose(3, 2, 0, 1)``).
    """
    n_out = W.shape[0]
    if W.shape[2:] == (1, 1):
        return W.reshape(n_out, -1).T
    xp = get_array_module(W)
    taps_first = W.transpose(2, 3, 1, 0)
    if xp is not np or taps_first.flags.c_contiguous:  # on the CPU: W laid out as W_mat
        return taps_first.reshape(-1, n_out)  # already (a folded kernel, minidl.nn.fusion)
    # The same copy, FILTER_BLOCK filters at a time: written in one go, each number lands
    # C*KH*KW numbers away from the one before it, a new cache line every time; a block of
    # filters stays in cache while its numbers are spread (4x faster on [512, 512, 3, 3]).
    w_taps = _memory.empty(W.shape[2:] + W.shape[1:2] + (n_out,), W.dtype)
    for start in range(0, n_out, FILTER_BLOCK):
        block = slice(start, start + FILTER_BLOCK)
        w_taps[..., block] = W[block].transpose(2, 3, 1, 0)
    return w_taps.reshape(-1, n_out)


FILTER_BLOCK = 16  # filters per block of ``kernel_matrix``'s copy


def as_matrix(a):
    """Contiguous channels-last ``a`` [N, OH, OW, k] as the matrix [N*OH*OW, k] it is in memory
    (a view, so that a GEMM's ``out=`` writes into ``a`` itself)."""
    assert a.flags.c_contiguous
    return a.reshape(-1, a.shape[-1])


def _gemm_bias_activation(col, w_mat, y_mat, bias, activation, residual=None):
    """y_mat = f(col @ w_mat + bias + residual), written into ``y_mat`` (rows of the output)."""
    get_array_module(col).matmul(col, w_mat, out=y_mat)
    activation.apply(y_mat, bias, out=y_mat, residual=residual)


def columns(window, xpad):
    """The im2col matrix [N*OH*OW, KH*KW*C] of padded channels-last ``xpad`` [N, Hp, Wp, C]."""
    n, c = xpad.shape[0], xpad.shape[3]
    col = _memory.empty((n, window.oh, window.ow, window.kh, window.kw, c), xpad.dtype,
                        get_array_module(xpad))
    return window.im2col(xpad, out=col).reshape(-1, window.kh * window.kw * c)


def im2col_forward(window, xpad, w_mat, out, bias=None, activation=IDENTITY, residual=None):
    """out = f(im2col(xpad) @ W_mat + bias + residual): the whole batch in one GEMM.

    xpad: padded channels-last input [N, Hp, Wp, C]; w_mat: [KH*KW*C, n_out]; bias: [n_out] or
    None; activation: f, an ``ActivationFunction``; residual: None or an array of out's shape
    and layout, added before f; out: contiguous channels-last output [N, OH, OW, n_out],
    written in place and returned. Every forward path has this signature.
    """
    _gemm_bias_activation(columns(window, xpad), w_mat, as_matrix(out), bias, activation,
                          _rows_of(residual))
    return out


def _rows_of(residual):
    return None if residual is None else as_matrix(residual)


def im2col_grad_weights(window, xpad, gz):
    """gW_mat = col^T @ gz_mat [KH*KW*C, n_out], for gz [N, OH, OW, n_out] (contiguous)."""
    return columns(window, xpad).T @ as_matrix(gz)


def col2im_grad_input(window, gz, w_mat):
    """gx = col2im(gz_mat @ W_mat^T), channels-last [n, H, W, C], for gz [n, OH, OW, n_out].

    Every input-gradient path has this signature.
    """
    gcol = as_matrix(gz) @ w_mat.T
    gcol = gcol.reshape(gz.shape[0], window.oh, window.ow, window.kh, window.kw, window.c)
    return window.interior(window.col2im(gcol))


# -- fast path: blocks within the column budget ------------------------------------------------
# Bytes of im2col columns built at a time (see ``choose_algorithm``). On the CPU: small enough
# to stay in cache between the copy that writes a block and the GEMM that reads it, large
# enough that the GEMM has thousands of rows and runs at full speed.
COL_CHUNK_BYTES = 4 * 2**20
# Output pixels (GEMM rows) a block has at least, whatever the budget: with many channels 4 MB
# of columns is a couple of hundred rows (222 for ResNet50's 3x3 convolutions on 512
# channels), too few for the GEMM, and the weight gradient adds one block's product onto the
# sum per block, a pass over the whole gW. Measured on [8, 512, 7, 7] -> 512: gW 17 -> 10.5 ms
# and 14.6 -> 9.9 ms (two runs) in one block instead of two; no change on [8, 256, 14, 14].
MIN_BLOCK_PIXELS = 1024
# On a GPU the trade-off differs: every block is a kernel launch plus a cuBLAS call, which need
# tens of thousands of rows to fill the device; GPU memory holds a large block easily.
GPU_COL_CHUNK_BYTES = 256 * 2**20


def column_budget(device):
    """The im2col block budget in bytes on ``device`` ("cpu" or "gpu")."""
    return GPU_COL_CHUNK_BYTES if device == "gpu" else COL_CHUNK_BYTES


def blocks(window, xpad):
    """Split the output [N, OH, OW] of ``window`` over padded ``xpad`` [N, Hp, Wp, C] into
    blocks whose im2col matrix is about the column budget or ``MIN_BLOCK_PIXELS`` rows,
    whichever is larger.

    Several whole images when one image's columns fit, otherwise bands of output rows of one
    image (``_budget.bands``). Returns a list of (start, stop, (oy0, oy1)): images start..stop-1,
    output rows oy0..oy1-1. Either way the block is one contiguous run of rows of the
    channels-last output.
    """
    n, c = xpad.shape[0], xpad.shape[3]
    pixel_bytes = window.kh * window.kw * c * xpad.dtype.itemsize  # one output pixel's columns
    budget = max(column_budget(device_of(xpad)), MIN_BLOCK_PIXELS * pixel_bytes)
    return _budget.bands(n, window.oh, window.ow * pixel_bytes, budget)


def _column_buffer(xpad):
    """One buffer for the columns of every block (``_block_columns``), of the budget's size."""
    size = max(column_budget(device_of(xpad)) // xpad.dtype.itemsize, 1)
    return _memory.empty(size, xpad.dtype, get_array_module(xpad))


def _block_columns(window, xpad, block, buffer):
    """The im2col matrix [rows, KH*KW*C] of one block, built in (a prefix of) ``buffer``.

    A block larger than ``buffer`` (one output row wider than the budget) gets a new array.
    """
    start, stop, (oy0, oy1) = block
    shape = (stop - start, oy1 - oy0, window.ow, window.kh, window.kw, xpad.shape[3])
    size = math.prod(shape)
    if size > buffer.size:
        buffer = _memory.empty(size, buffer.dtype, get_array_module(buffer))
    col = window.im2col(xpad[start:stop], (oy0, oy1), out=buffer[:size].reshape(shape))
    return col.reshape(-1, window.kh * window.kw * xpad.shape[3])


def _block_rows(a, block):
    """The rows of channels-last ``a`` [N, OH, OW, k] in ``block`` as a [rows, k] view."""
    start, stop, (oy0, oy1) = block
    # A block is whole images or a band of one image, so this slice is contiguous.
    return as_matrix(a[start:stop, oy0:oy1])


def blocked_forward(window, xpad, w_mat, out, bias=None, activation=IDENTITY, residual=None):
    """``im2col_forward`` block by block, each block finished (bias, residual, f) in cache."""
    buffer = _column_buffer(xpad)
    for block in blocks(window, xpad):
        col = _block_columns(window, xpad, block, buffer)
        _gemm_bias_activation(col, w_mat, _block_rows(out, block), bias, activation,
                              None if residual is None else _block_rows(residual, block))
    return out


def blocked_grad_weights(window, xpad, gz):
    """``im2col_grad_weights`` as a sum over blocks of col^T @ gz_mat: the first block's
    product is the sum's start (no zero fill), each later one is added onto it."""
    xp = get_array_module(gz)
    shape = (window.kh * window.kw * xpad.shape[3], gz.shape[3])
    buffer, gw_mat = _column_buffer(xpad), None
    for block in blocks(window, xpad):
        col_t, rows = _block_columns(window, xpad, block, buffer).T, _block_rows(gz, block)
        if gw_mat is None:
            gw_mat = xp.matmul(col_t, rows, out=_memory.empty(shape, gz.dtype, xp))
        else:
            gw_mat += col_t @ rows
    return gw_mat


def blocked_grad_input(window, gz, w_mat):
    """``col2im_grad_input`` a run of whole images at a time, each run's gcol within budget."""
    xp = get_array_module(gz)
    gx = _memory.empty((window.n, window.h, window.w, window.c), gz.dtype, xp)
    image_bytes = window.oh * window.ow * window.kh * window.kw * window.c * gz.dtype.itemsize
    for start, stop in _budget.runs(window.n, image_bytes, column_budget(device_of(gz))):
        gx[start:stop] = col2im_grad_input(window, gz[start:stop], w_mat)
    return gx


# -- fast path: 1x1 kernels, a GEMM on the input itself ---------------------------------------
def pointwise(window):
    """Whether ``window`` is a 1x1 kernel without padding: its im2col matrix is the input's own
    pixels (every ``stride``-th one), so no columns need building."""
    return (window.kh, window.kw) == (1, 1) and not window.padded


def pointwise_input(window, x_l):
    """The [N*OH*OW, C] matrix a 1x1 kernel reads from channels-last ``x_l`` [N, H, W, C]: a
    view of ``x_l`` itself at stride 1 (when contiguous), else one copy of the pixels it meets."""
    x_sub = x_l[:, ::window.sy, ::window.sx]
    if not x_sub.flags.c_contiguous:
        x_sub = _memory.copy(x_sub)
    return as_matrix(x_sub)


def pointwise_forward(window, xpad, w_mat, out, bias=None, activation=IDENTITY, residual=None):
    """``im2col_forward`` for a 1x1 kernel: the GEMM straight on the input's pixels."""
    _gemm_bias_activation(pointwise_input(window, xpad), w_mat, as_matrix(out), bias,
                          activation, _rows_of(residual))
    return out


def pointwise_grad_weights(window, xpad, gz):
    """``im2col_grad_weights`` for a 1x1 kernel: x_mat^T @ gz_mat."""
    return pointwise_input(window, xpad).T @ as_matrix(gz)


def pointwise_grad_input(window, gz, w_mat):
    """``col2im_grad_input`` for a 1x1 kernel: gz_mat @ W_mat^T lands on the pixels the
    kernel read (all of them at stride 1; every ``stride``-th, the rest zero, otherwise)."""
    xp = get_array_module(gz)
    g = (as_matrix(gz) @ w_mat.T).reshape(gz.shape[0], window.oh, window.ow, window.c)
    if (window.sy, window.sx) == (1, 1):
        return g
    gx = _memory.zeros((gz.shape[0], window.h, window.w, window.c), gz.dtype, xp)
    gx[:, ::window.sy, ::window.sx] = g
    return gx


# -- fast paths: Winograd, and the input gradient as a correlation -----------------------------
def winograd_forward(window, xpad, w_mat, out, bias=None, activation=IDENTITY, residual=None):
    """``im2col_forward`` for a 3x3 stride-1 kernel by Winograd (F(2x2) or F(4x4), as
    ``winograd.choose_tiling`` picks)."""
    c, n_out = xpad.shape[3], w_mat.shape[1]
    w_taps = w_mat.reshape(3, 3, c, n_out)
    if residual is None:
        return winograd.correlate3x3(xpad, w_taps, out, bias, activation)
    # The output tiles are finished in Winograd's own tile layout; the residual, in the
    # output's, is summed in a pass of its own.
    winograd.correlate3x3(xpad, w_taps, out, bias)
    return activation.apply(out, out=out, residual=residual)


def correlation_grad_input(window, gz, w_mat):
    """``col2im_grad_input`` for stride 1: gx = correlate(padded gz, flipped kernel with in and
    out channels swapped), run by whichever forward path fits that correlation."""
    xp = get_array_module(gz)
    kh, kw, c, n_out = window.kh, window.kw, window.c, w_mat.shape[1]
    gwin = window.gradient_window(n_out)
    w_flip = w_mat.reshape(kh, kw, c, n_out)[::-1, ::-1].transpose(0, 1, 3, 2)
    gx = _memory.empty((window.n, window.h, window.w, c), gz.dtype, xp)
    return correlate(gwin, gwin.pad(gz), w_flip.reshape(-1, c), gx)


# -- the choice ------------------------------------------------------------------------------
class Algorithm(NamedTuple):
    """The path each step of one convolution takes: the functions ``choose_algorithm`` picks."""

    forward: Callable  # (window, xpad, w_mat, out, bias, activation) -> out
    grad_weights: Callable  # (window, xpad, gz) -> gW_mat
    grad_input: Callable  # (window, gz, w_mat) -> gx, channels-last


PLAIN = Algorithm(im2col_forward, im2col_grad_weights, col2im_grad_input)
BLOCKED = Algorithm(blocked_forward, blocked_grad_weights, blocked_grad_input)
POINTWISE = Algorithm(pointwise_forward, pointwise_grad_weights, pointwise_grad_input)


def choose_algorithm(window, n_out, dtype, device):
    """How a convolution of ``window``'s geometry (C = ``window.c`` input channels) with
    ``n_out`` filters runs on ``device`` ("cpu" or "gpu"), its arrays of ``dtype``.

    - ``POINTWISE`` for a 1x1 kernel without padding (``pointwise``): its columns are the
      input's pixels, so the GEMMs read the input in place (at stride 1) and build nothing.
      Most of ResNet50's and MobileNetV2's convolutions are of this kind.
    - ``PLAIN``, the algorithm as written, when the whole batch's columns fit the column
      budget (``column_budget``).
    - ``BLOCKED`` when they do not: the same GEMMs on blocks within the budget, so that memory
      stays bounded and, on the CPU, each block is still in cache when its GEMM reads it.
    - ``winograd_forward`` replaces the forward on the CPU for a 3x3 kernel, stride 1, dilation
      1, enough channels in and out and enough output tiles (``winograd.applies``): with
      fewer channels its transforms cost more than its fewer multiplications save, with fewer
      tiles its kernel transform does. Not on a GPU: it is NumPy code, and there cuBLAS runs
      the im2col GEMM at full speed.
    - ``correlation_grad_input`` replaces the input gradient for stride 1 with padding no wider
      than the kernel's span (``Window.gradient_window``); that correlation's own path is
      chosen by this same function (``correlate``).
    """
    column_bytes = (window.n * window.oh * window.ow * window.kh * window.kw * window.c
                    * dtype.itemsize)
    if pointwise(window):
        return POINTWISE
    algorithm = PLAIN if column_bytes <= column_budget(device) else BLOCKED
    if device == "cpu" and winograd.applies((window.kh, window.kw), (window.sy, window.sx),
                                            (window.dy, window.dx), window.c, n_out,
                                            (window.n, window.oh, window.ow)):
        algorithm = algorithm._replace(forward=winograd_forward)
    if window.gradient_window(n_out) is not None:
        algorithm = algorithm._replace(grad_input=correlation_grad_input)
    return algorithm


def correlate(window, xpad, w_mat, out, bias=None, activation=IDENTITY):
    """out = f(xpad correlated with w_mat + bias), by the forward path ``choose_algorithm``
    picks; arguments as ``im2col_forward``'s."""
    algorithm = choose_algorithm(window, w_mat.shape[1], xpad.dtype, device_of(xpad))
    return algorithm.forward(window, xpad, w_mat, out, bias, activation)


# -- the op ----------------------------------------------------------------------------------
def _check_inputs(x, W, b):
    require_float("conv2d", "the input", x)
    require_float("conv2d", "the weights", W)
    require_ndim("conv2d", "the input", x, 4, "[batch, channels, height, width]")
    require_ndim("conv2d", "the weights", W, 4, "[n_out, n_in, kh, kw]")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels (shape {tuple(x.shape)}) "
                         f"but the weights expect n_in={W.shape[1]} (W shape {tuple(W.shape)})")
    if b is not None and tuple(b.shape) != (W.shape[0],):
        raise ValueError(f"conv2d: bias of shape {tuple(b.shape)} does not match n_out="
                         f"{W.shape[0]} (W shape {tuple(W.shape)}); expected ({W.shape[0]},)")
    if x.dtype != W.dtype:
        raise ValueError(f"conv2d: input dtype {x.dtype} differs from weight dtype {W.dtype} "
                         f"(shapes {tuple(x.shape)} and {tuple(W.shape)}); cast one of them")


class Conv2d(Function):
    """y = f(conv(x, W) + b): x [N, C, H, W], W [n_out, C, KH, KW], b [n_out] -> y [N, n_out,
    OH, OW] (see the module docstring).

    Called with two inputs (x, W) the op has no bias, with three (x, W, b) it has one. ``mode``
    is DL4J's ConvolutionMode (Truncate, Same, Strict); ``activation`` is f, an
    ``ActivationFunction`` (default identity). ``self.algorithm`` records the paths chosen.
    """

    def __init__(self, stride=1, padding=0, dilation=1, mode="truncate", activation=IDENTITY,
                 residual=None):
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode
        self.activation = IDENTITY if activation is None else activation
        self.residual = residual

    def forward(self, x, W, b=None):
        _check_inputs(x, W, b)
        self.has_bias = b is not None
        self.window = window = Window("conv2d", x.shape, W.shape[2:], self.stride, self.padding,
                                      self.dilation, self.mode)
        self.algorithm = choose_algorithm(window, W.shape[0], x.dtype, device_of(x))
        xpad = window.padded_input(channels_last(x))
        self.w_mat = kernel_matrix(W)
        y = _memory.empty((window.n, window.oh, window.ow, W.shape[0]), x.dtype,
                          get_array_module(x))
        residual = self._residual_for(y)
        self.algorithm.forward(window, xpad, self.w_mat, y, b, self.activation, residual)
        # Save the padded input only if gW will be asked for: it is what the columns are
        # rebuilt from in the backward. A frozen layer or no_grad() keeps nothing.
        self.xpad = xpad if self.needs_input_grad[1] else None
        keep_y = not self.activation.is_identity and any(self.needs_input_grad)
        self.y_l = y if keep_y else None
        return channels_first(y)

    def _residual_for(self, y):
        """The residual as contiguous channels-last [N, OH, OW, n_out], checked against y."""
        if self.residual is None:
            return None
        if any(self.needs_input_grad):
            raise ValueError("conv2d: residual= is for inference (no gradient reaches it); "
                             "add the shortcut outside the op when training")
        expected = channels_first(y).shape
        if tuple(self.residual.shape) != expected or self.residual.dtype != y.dtype:
            raise ValueError(f"conv2d: residual of shape {tuple(self.residual.shape)} and dtype "
                             f"{self.residual.dtype} does not match the output, {expected} "
                             f"{y.dtype}")
        return get_array_module(y).ascontiguousarray(channels_last(self.residual))

    def backward(self, gy):
        xp = get_array_module(gy)
        gz = xp.ascontiguousarray(self.activation.gradient(self.y_l, channels_last(gy)))
        need_x, need_W = self.needs_input_grad[:2]
        gx = self._grad_input(gz) if need_x else None
        gW = self._grad_weights(gz) if need_W else None
        return with_bias_gradient(self.has_bias, self.needs_input_grad, gx, gW, gz)

    def _grad_weights(self, gz):
        """gW [n_out, C, KH, KW] from gz [N, OH, OW, n_out]."""
        w = self.window
        gw_mat = self.algorithm.grad_weights(w, self.xpad, gz)
        gW = gw_mat.reshape(w.kh, w.kw, w.c, gz.shape[3]).transpose(3, 2, 0, 1)
        return get_array_module(gz).ascontiguousarray(gW)

    def _grad_input(self, gz):
        """gx [N, C, H, W] (an NCHW view of a channels-last array) from gz [N, OH, OW, n_out]."""
        return channels_first(self.algorithm.grad_input(self.window, gz, self.w_mat))


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, mode="truncate", activation=None,
           alpha=None, residual=None):
    """Convolve NCHW ``x`` with ``W`` [n_out, n_in, kh, kw] (+ ``b`` [n_out]); see ``Conv2d``.

    ``activation`` (an elementwise activation's name, see ``minidl.ops.activations``; ``alpha``
    its parameter) is applied to the result inside the op, after adding ``residual`` (an array
    of the output's shape, in inference only: a residual block's shortcut, summed in the same
    pass as the bias). Returns an [N, n_out, OH, OW] tensor whose memory is channels-last (see
    ``minidl.ops.window``); index it as NCHW like any other array.
    """
    f = IDENTITY if activation is None else resolve(activation, alpha)
    fn = Conv2d(stride, padding, dilation, mode, f,
                residual.data if isinstance(residual, Tensor) else residual)
    return fn(x, W) if b is None else fn(x, W, b)
