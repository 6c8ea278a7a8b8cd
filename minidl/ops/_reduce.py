"""Sums over axes that are fast on the GPU too: the reduction behind every bias gradient,
broadcast gradient and batch statistic.

On the CPU these are NumPy's ``sum``. On the GPU, CuPy's ``sum`` over the leading axes of an
array whose kept axis is short, a [rows, channels] gradient summed into [channels], gives each of
the few sums to one block of threads walking a long strided column: as many busy blocks as
there are channels, on a device built to run thousands at once. The same sum as a
matrix-vector product, ones [rows] @ a [rows, channels], is one cuBLAS call that spreads over
the whole device and reads the array once at full bandwidth (``bench/gpu.py`` times the two
side by side).

Any array that lies contiguous in memory (in some order of its axes) reduces that way. Seen in
memory order, the axes form runs, summed or kept (an NCHW array summed over N, H and W: summed
N, kept C, summed H*W). Each summed run is one product with a vector of ones, the last run
first: [N*C, H*W] @ ones, then ones @ [N, C].
"""

import math
import operator

import numpy as np

from minidl.backend import get_array_module, is_gpu_array

AxisError = getattr(np, "exceptions", np).AxisError  # in numpy.exceptions since NumPy 1.25


def normalize_axes(axis, ndim):
    """``axis`` (an int, a sequence of ints, or None: every axis) as a sorted tuple of axes
    >= 0, read as NumPy reads it: an axis out of range raises AxisError, a repeated one
    ValueError."""
    if axis is None:
        return tuple(range(ndim))
    axes = [operator.index(a) for a in (axis if np.ndim(axis) else (axis,))]
    for a in axes:
        if not -ndim <= a < ndim:
            raise AxisError(a, ndim)
    normalized = sorted(a % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(normalized)


def sum_over(a, axes, keepdims=False):
    """``a.sum(axis=axes, keepdims=keepdims)``; on the GPU as products with ones."""
    axes = normalize_axes(axes, a.ndim)
    kept = [i for i in range(a.ndim) if i not in axes]
    if not (is_gpu_array(a) and a.dtype.kind == "f" and axes and kept):
        return a.sum(axis=axes, keepdims=keepdims)
    order = sorted(range(a.ndim), key=lambda i: -a.strides[i])  # axes in memory order
    in_memory = a.transpose(order)
    if not in_memory.flags.c_contiguous:  # a strided slice: no product reads it as it lies
        return a.sum(axis=axes, keepdims=keepdims)
    total = _sum_runs(in_memory, _runs([(a.shape[i], i in axes) for i in order]))
    kept_in_memory = [i for i in order if i not in axes]
    total = total.reshape([a.shape[i] for i in kept_in_memory])
    total = total.transpose([kept_in_memory.index(i) for i in kept])  # back to a's axis order
    if keepdims:
        total = total.reshape([1 if i in axes else n for i, n in enumerate(a.shape)])
    return total


def sum_rows(a):
    """a [..., k] summed over every axis but the last: [k]."""
    return sum_over(a, range(a.ndim - 1))


def _runs(axes):
    """[(size, summed)] of consecutive axes, merged where neighbours are summed alike."""
    runs = []
    for size, summed in axes:
        if runs and runs[-1][1] == summed:
            runs[-1][0] *= size
        else:
            runs.append([size, summed])
    return runs


_ONES = {}  # (array module, device, size, dtype) -> a read-only vector of ones
ONES_KEPT = 64  # vectors kept at most (a network's few bias and batch-norm widths)


def ones(xp, size, dtype):
    """A vector of ``size`` ones, made once: on the GPU a fill kernel less per batch sum."""
    device = None if xp is np else xp.cuda.Device().id
    key = (xp.__name__, device, size, np.dtype(dtype).str)
    vector = _ONES.get(key)
    if vector is None:
        if len(_ONES) >= ONES_KEPT:
            _ONES.clear()
        vector = _ONES[key] = xp.ones(size, dtype)
    return vector


def _sum_runs(values, runs):
    """Sum contiguous ``values`` over its summed runs, the last first: [kept sizes...] flat."""
    xp = get_array_module(values)
    sizes = [size for size, _ in runs]
    for i in reversed([i for i, (_, summed) in enumerate(runs) if summed]):
        before, size, after = math.prod(sizes[:i]), sizes[i], math.prod(sizes[i + 1:])
        unit = ones(xp, size, values.dtype)
        if after == 1:  # the last run: [before, size] @ ones
            values = values.reshape(before, size) @ unit
        else:  # ones @ [size, after], for each of the `before` blocks
            values = xp.matmul(unit, values.reshape(before, size, after))
        del sizes[i]
    return values
