"""Batch normalization over the batch (and spatial) axes, DL4J's BatchNormalization.

Training normalises with the statistics of the current batch and updates the running averages
``mean = decay * mean + (1 - decay) * batch_mean`` (likewise the variance); inference uses the
running averages, so an example's output does not depend on the rest of its batch.
Input [batch, features] normalises per feature; [batch, channels, h, w] per channel.
"""

from minidl.autograd import Function
from minidl.backend import get_array_module
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
    scale = gamma * inv_std  # Tensor: gradients still reach gamma and beta when they are trainable
    shift = beta - scale * running_mean
    # The Tensor on the left: its operator handles x whether it is a Tensor or a plain array.
    return scale.reshape(shape) * x + shift.reshape(shape)
