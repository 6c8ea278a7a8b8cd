"""Argument handling shared by the ops: input validation with clear errors that name the op and
the shapes, int-or-pair arguments, and the gradients of an optional bias."""

import numpy as np

from minidl.ops._reduce import sum_rows


def require_float(op, name, a):
    """Raise ValueError unless array ``a`` holds floating-point numbers."""
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{op}: expected a floating-point array for {name}, got dtype {a.dtype} "
                         f"(shape {tuple(a.shape)}); convert it with .astype(np.float32)")


def require_ndim(op, name, a, ndim, layout=""):
    """Raise ValueError unless array ``a`` has ``ndim`` dimensions."""
    if a.ndim != ndim:
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{op}: expected a {ndim}-d{hint} array for {name}, got shape "
                         f"{tuple(a.shape)}")


def broadcast_shape(op, *shapes):
    """The broadcast of ``shapes``, or a ValueError naming the op and the shapes."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None


def pair(value, name="value"):
    """(a, b) from an int or a pair: kernel sizes, strides, paddings, dilations."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value}")
    return value


def with_bias_gradient(has_bias, needs_input_grad, gx, gW, gy):
    """The gradients of an op called as f(x, W) (``has_bias`` False): (gx, gW); or as
    f(x, W, b): (gx, gW, gb).

    gy is the gradient of the output, channels-last ([..., n_out]); gb is gy summed over every
    axis but the last, computed only when b needs it (``needs_input_grad[2]``), else None.
    """
    if not has_bias:
        return gx, gW
    return gx, gW, sum_rows(gy) if needs_input_grad[2] else None
