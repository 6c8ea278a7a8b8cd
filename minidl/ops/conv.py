"""2-d convolution (cross-correlation, as in every DL framework) on NCHW arrays.

Shapes: x [N, C, H, W], W [n_out, C, KH, KW] (DL4J's layout), b [n_out] -> y [N, n_out, OH, OW].

The math, with col = im2col(x) of shape [N*OH*OW, KH*KW*C] (see ``minidl.ops.window``) and
W_mat = W rearranged to [KH*KW*C, n_out] (rows in the (i, j, c) order of col's columns):

    forward   y_mat = col @ W_mat          one GEMM; y_mat is y channels-last, [N*OH*OW, n_out]
    backward  gW_mat = col^T @ gy_mat      each weight met every window it was applied to
              gx = col2im(gy_mat @ W_mat^T)  each window sends its gradient back to its pixels
              gb = sum of gy over N, OH, OW

With ``activation=`` the op is y = f(conv + b), the activation applied to each output block in
place while it is still in cache (``minidl.ops.activations.apply``: on the GPU one fused bias +
activation kernel); the backward first turns gy into the pre-activation's gradient from y alone.

For stride 1 (and padding no wider than the kernel's span, as in every usual network) the input
gradient is computed instead as a convolution of the zero-padded gy with the flipped kernel
(``Window.gradient_window``), which reuses the forward's path rather than scatter-adding columns.

Speed (CPU): the work is done channels-last, so the output of the GEMM *is* the next layer's
input (returned as an NCHW-shaped view, no transposition copy). The batch is processed in chunks
(or bands of output rows) whose im2col block is about ``COL_CHUNK_BYTES`` (``GPU_COL_CHUNK_BYTES``
on the GPU): the column matrix of a whole batch would be 9x the activations (1.8 GB for VGG16's
first block at batch 16), while a block is reused and stays warm in cache. The backward rebuilds
the columns block by block from the saved padded input instead of keeping them from the forward,
for the same memory reason; the padded input is saved only when the weights need a gradient, so
a frozen layer or ``no_grad()`` keeps none.
"""

import math

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _budget, _memory, activations, winograd
from minidl.ops._checks import require_float, require_ndim, with_bias_gradient
from minidl.ops.window import Window, channels_first, channels_last

# Size of the im2col block built at a time. Small enough to stay in cache between the copy that
# writes it and the GEMM that reads it (measured: 4 MiB blocks beat whole images by ~20% on the
# VGG16 shapes), large enough that the GEMM runs at full speed (thousands of rows).
COL_CHUNK_BYTES = 4 * 2**20
# On a GPU the trade-off differs: every block is a kernel launch plus a cuBLAS call, which need
# tens of thousands of rows to fill the device; GPU memory holds a large block easily.
GPU_COL_CHUNK_BYTES = 256 * 2**20


def col_chunk_bytes(a):
    """The im2col block budget for arrays on ``a``'s device."""
    return GPU_COL_CHUNK_BYTES if is_gpu_array(a) else COL_CHUNK_BYTES


def kernel_matrix(W):
    """W [n_out, C, KH, KW] -> W_mat [KH*KW*C, n_out], rows in im2col's (i, j, c) order."""
    n_out = W.shape[0]
    return W.transpose(2, 3, 1, 0).reshape(-1, n_out)


def blocks(window, xpad):
    """Split the output [N, OH, OW] of ``window`` over padded ``xpad`` [N, Hp, Wp, C] into
    blocks whose im2col matrix is about ``col_chunk_bytes(xpad)``.

    Several whole images when one image's columns fit, otherwise bands of output rows of one
    image (``_budget.bands``). Returns a list of (start, stop, (oy0, oy1)): images start..stop-1,
    output rows oy0..oy1-1. Either way the block is one contiguous run of rows of the
    channels-last output.
    """
    n, c = xpad.shape[0], xpad.shape[3]
    row_bytes = window.ow * window.kh * window.kw * c * xpad.dtype.itemsize  # one output row
    return _budget.bands(n, window.oh, row_bytes, col_chunk_bytes(xpad))


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
    rows = a[start:stop, oy0:oy1]
    # A block is whole images or a band of one image, so this slice is contiguous and the
    # reshape is a view (matmul's out= must write into ``a`` itself, not into a copy).
    assert rows.flags.c_contiguous
    return rows.reshape(-1, a.shape[3])


def _column_buffer(xpad):
    xp = get_array_module(xpad)
    return _memory.empty(max(col_chunk_bytes(xpad) // xpad.dtype.itemsize, 1), xpad.dtype, xp)


def correlate(window, xpad, w_mat, out, bias=None, activation=None):
    """out[b, oy, ox] = f((window of xpad under (oy, ox), flattened) @ w_mat + bias).

    xpad: padded channels-last input [N, Hp, Wp, C]; w_mat: [KH*KW*C, n_out]; bias: [n_out] or
    None; activation: (name, alpha) of f or None; out: contiguous channels-last output
    [N, OH, OW, n_out], written in place and returned.
    3x3 stride-1 convolutions with many channels on the CPU go through Winograd F(2x2, 3x3)
    (``minidl.ops.winograd``: 2.25x fewer multiplications); everything else is im2col + GEMM,
    block by block, with bias and activation applied to each block while it is still in cache.
    """
    xp = get_array_module(xpad)
    c, n_out = xpad.shape[3], w_mat.shape[1]
    if not is_gpu_array(xpad) and winograd.applies((window.kh, window.kw), (window.sy, window.sx),
                                                   (window.dy, window.dx), c, n_out):
        return winograd.correlate3x3(xpad, w_mat.reshape(3, 3, c, n_out), out, bias, activation)
    name, alpha = activation or ("identity", None)
    buffer = _column_buffer(xpad)
    for block in blocks(window, xpad):
        col = _block_columns(window, xpad, block, buffer)
        rows = _block_rows(out, block)
        xp.matmul(col, w_mat, out=rows)
        if bias is not None or activation is not None:
            # Channels-last: the bias broadcasts along the contiguous last axis.
            activations.apply(rows, name, alpha, bias, out=rows)
    return out


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
    """See the module docstring; ``mode`` is DL4J's ConvolutionMode (Truncate, Same, Strict)."""

    def __init__(self, stride=1, padding=0, dilation=1, mode="truncate", activation=None):
        self.stride, self.padding, self.dilation, self.mode = stride, padding, dilation, mode
        self.activation = activation  # (name, alpha) or None

    def forward(self, x, W, b=None):
        _check_inputs(x, W, b)
        xp = get_array_module(x)
        self.window = window = Window("conv2d", x.shape, W.shape[2:], self.stride, self.padding,
                                      self.dilation, self.mode)
        xpad = window.pad(channels_last(x))
        self.w_mat = kernel_matrix(W)
        y = _memory.empty((window.n, window.oh, window.ow, W.shape[0]), x.dtype, xp)
        correlate(window, xpad, self.w_mat, y, b, self.activation)
        # Save the padded input only if gW will be asked for: it is what the columns are
        # rebuilt from in the backward. A frozen layer or no_grad() keeps nothing.
        need_W = len(self.needs_input_grad) > 1 and self.needs_input_grad[1]
        self.xpad = xpad if need_W else None
        self.y_l = y if self.activation and any(self.needs_input_grad) else None
        self.W_shape = W.shape
        return channels_first(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        gy_l = channels_last(gy)  # [N, OH, OW, n_out]
        if self.activation is not None:
            gy_l = activations.gradient(self.y_l, gy_l, *self.activation)
        gy_l = xp.ascontiguousarray(gy_l)
        need_x, need_W = self.needs_input_grad[:2]
        gx = self._grad_input(gy_l) if need_x else None
        gW = self._grad_weights(gy_l) if need_W else None
        return with_bias_gradient(self.needs_input_grad, gx, gW, gy_l)

    def _grad_weights(self, gy_l):
        """gW_mat = col^T @ gy_mat, summed over blocks; returned as [n_out, C, KH, KW]."""
        xp = get_array_module(gy_l)
        window, xpad = self.window, self.xpad
        gw_mat = xp.zeros_like(self.w_mat)
        buffer = _column_buffer(xpad)
        for block in blocks(window, xpad):
            col = _block_columns(window, xpad, block, buffer)
            gw_mat += col.T @ _block_rows(gy_l, block)
        n_out, c, kh, kw = self.W_shape
        return xp.ascontiguousarray(gw_mat.reshape(kh, kw, c, n_out).transpose(3, 2, 0, 1))

    def _grad_input(self, gy_l):
        """gx [N, C, H, W] (an NCHW view of a channels-last array)."""
        xp = get_array_module(gy_l)
        window = self.window
        n_out, c, kh, kw = self.W_shape
        gwin = window.gradient_window(n_out)
        if gwin is not None:
            # Stride 1: gx = correlate(padded gy, flipped kernel with in/out swapped).
            w_flip = self.w_mat.reshape(kh, kw, c, n_out)[::-1, ::-1].transpose(0, 1, 3, 2)
            gx = _memory.empty((window.n, window.h, window.w, c), gy_l.dtype, xp)
            correlate(gwin, gwin.pad(gy_l), w_flip.reshape(-1, c), gx)
            return channels_first(gx)
        # General stride: gx = col2im(gy_mat @ W_mat^T), chunk by chunk.
        hp, wp = window.padded_size
        gxpad = _memory.empty((window.n, hp, wp, c), gy_l.dtype, xp)
        image_bytes = window.oh * window.ow * kh * kw * c * gy_l.dtype.itemsize  # one image's gcol
        for start, stop in _budget.runs(window.n, image_bytes, col_chunk_bytes(gy_l)):
            gcol = gy_l[start:stop].reshape(-1, n_out) @ self.w_mat.T
            gcol = gcol.reshape(stop - start, window.oh, window.ow, kh, kw, c)
            gxpad[start:stop] = window.col2im(gcol)
        return channels_first(window.interior(gxpad))


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, mode="truncate", activation=None,
           alpha=None):
    """Convolve NCHW ``x`` with ``W`` [n_out, n_in, kh, kw] (+ ``b`` [n_out]); see ``Conv2d``.

    ``activation`` (an elementwise activation's name, see ``minidl.ops.activations``; ``alpha``
    its parameter) is applied to the result inside the op. Returns an [N, n_out, OH, OW] tensor
    whose memory is channels-last (see ``minidl.ops.window``); index it as NCHW like any other
    array.
    """
    fused = None if activation is None else activations.resolve(activation, alpha)
    fn = Conv2d(stride, padding, dilation, mode, fused)
    return fn(x, W) if b is None else fn(x, W, b)
