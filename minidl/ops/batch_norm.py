"""Batch normalization over the batch (and spatial) axes, DL4J's BatchNormalization.

Training normalises with the statistics of the current batch and updates the running averages
``mean = decay * mean + (1 - decay) * batch_mean`` (likewise the variance); inference uses the
running averages, so an example's output does not depend on the rest of its batch.
Input [batch, features] normalises per feature; [batch, channels, h, w] per channel.

Inference is y = scale * x + shift per channel, with scale = gamma / sqrt(var + eps) and
shift = beta - scale * mean. When no gradient can flow through it (under ``no_grad()``, or
nothing requires one) it runs as one fused pass (``scale_shift``), with the same float
operations as the Tensor formula, so the same numbers; otherwise it is built from Tensor
operations so that gradients reach x, gamma and beta (a frozen batch norm in transfer
learning still passes gradients to the layers before it). Why not fold scale and shift into
the preceding convolution's weights: that would need the network to know which convolution
feeds which batch norm, and would change the numbers by a rounding (the products are taken in
another order); the fused pass keeps them and costs one pass over the activation.
"""

import numpy as np

from minidl.autograd import Function, Tensor, is_grad_enabled
from minidl.backend import get_array_module
from minidl.ops import _memory
from minidl.ops._reduce import sum_over


def _axes_and_shape(x):
    if x.ndim == 2:
        return (0,), (1, x.shape[1])
    if x.ndim == 4:
        return (0, 2, 3), (1, x.shape[1], 1, 1)
    raise ValueError(f"batch_norm: expected [batch, features] or [batch, channels, h, w], got "
                     f"shape {tuple(x.shape)}")


class BatchNormTrain(Function):
    """y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with batch statistics."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        axes, shape = _axes_and_shape(x)
        self.axes, self.shape = axes, shape
        self.m = m = x.size // x.shape[1]  # numbers per feature
        self.mean = sum_over(x, axes) / m
        centered = x - self.mean.reshape(shape)
        self.var = sum_over(centered * centered, axes) / m
        self.inv_std = 1.0 / xp.sqrt(self.var + self.eps)
        self.x_hat = centered * self.inv_std.reshape(shape)
        self.gamma = gamma
        return gamma.reshape(shape) * self.x_hat + beta.reshape(shape)

    def backward(self, gy):
        axes, shape, m = self.axes, self.shape, self.m
        g_beta = sum_over(gy, axes)
        g_gamma = sum_over(gy * self.x_hat, axes)
        # The textbook simplification of d/dx through mean and variance of the batch.
        g_xhat = gy * self.gamma.reshape(shape)
        gx = (self.inv_std.reshape(shape) / m) * (
            m * g_xhat - sum_over(g_xhat, axes).reshape(shape)
            - self.x_hat * sum_over(g_xhat * self.x_hat, axes).reshape(shape))
        return gx, g_gamma, g_beta


def batch_norm(x, gamma, beta, running_mean, running_var, train, decay=0.9, eps=1e-5):
    """Normalise ``x``; in training also update ``running_mean``/``running_var`` in place.

    x: a Tensor or an array, [batch, features] or [batch, channels, h, w]; gamma, beta: Tensors
    of shape [features]; running_mean, running_var: plain arrays.
    """
    if train:
        fn = BatchNormTrain(eps)
        y = fn(x, gamma, beta)
        running_mean *= decay
        running_mean += (1 - decay) * fn.mean.astype(running_mean.dtype, copy=False)
        running_var *= decay
        running_var += (1 - decay) * fn.var.astype(running_var.dtype, copy=False)
        return y
    xp = get_array_module(x)  # x: a Tensor or an array; both have .shape and .ndim
    _, shape = _axes_and_shape(x)
    inv_std = (1.0 / xp.sqrt(running_var + eps)).astype(running_var.dtype)
    if not _needs_graph(x, gamma, beta):
        return Tensor(scale_shift(_data(x), _data(gamma) * inv_std,
                                  _data(beta) - _data(gamma) * inv_std * running_mean))
    scale = gamma * inv_std  # Tensor: gradients still reach gamma and beta when they are trainable
    shift = beta - scale * running_mean
    # The Tensor on the left: its operator handles x whether it is a Tensor or a plain array.
    return scale.reshape(shape) * x + shift.reshape(shape)


# -- inference without gradients: one fused pass ---------------------------------------------
def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _needs_graph(*inputs):
    """Whether a gradient may flow back through batch norm in inference mode: then it is
    built from Tensor operations, as the plain formula reads; otherwise ``scale_shift`` runs."""
    return is_grad_enabled() and any(getattr(a, "requires_grad", False) for a in inputs)


# Numbers per slice of ``scale_shift``: 256 KiB of float32, so that the multiply and the add of
# one slice meet it in the core's cache: one pass over memory instead of two.
SLICE_SIZE = 1 << 16


def scale_shift(x, scale, shift):
    """y = x * scale + shift per channel (axis 1 of x [N, C, ...] or [N, C]), a new array in
    x's memory layout: the inference-mode batch norm, folded to one multiply-add per number.

    The same numbers as the Tensor formula of ``batch_norm`` (the same two float operations in
    the same order). On the CPU, a channels-last x (the window ops' output, see
    ``minidl.ops.window``) is done as a [rows, C] matrix, slice by slice, in the calling
    thread: the pass is memory-bound, and split over two threads it ran no faster (measured
    on MobileNetV2's shapes, batch 1 and 8).
    """
    xp = get_array_module(x)
    scale, shift = scale.astype(x.dtype, copy=False), shift.astype(x.dtype, copy=False)
    x_l = x.transpose(0, *range(2, x.ndim), 1)  # the channel axis last
    if xp is not np or not x_l.flags.c_contiguous:
        _, shape = _axes_and_shape(x)
        return x * scale.reshape(shape) + shift.reshape(shape)
    y_l = _memory.empty(x_l.shape, x.dtype)
    x_mat, y_mat = x_l.reshape(-1, x.shape[1]), y_l.reshape(-1, x.shape[1])
    slice_rows = max(1, SLICE_SIZE // x.shape[1])
    for start in range(0, len(x_mat), slice_rows):
        rows = slice(start, start + slice_rows)
        np.multiply(x_mat[rows], scale, out=y_mat[rows])
        np.add(y_mat[rows], shift, out=y_mat[rows])
    return y_l.transpose(0, x.ndim - 1, *range(1, x.ndim - 1))
