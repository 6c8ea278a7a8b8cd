"""Tensor: an array that remembers the Function that made it, so gradients can flow back.

A Tensor holds a NumPy or CuPy array in ``data``. When it was produced by a Function while
gradients are enabled and some input needed a gradient, ``creator`` points at that Function and
``requires_grad`` is True; calling ``backward()`` on a scalar result walks those links in reverse
and fills ``grad`` (a plain array of ``data``'s shape) on every leaf tensor that requires one.
"""

import contextlib
import heapq
import itertools

import numpy as np

from minidl.backend import get_array_module, to_cpu

_grad_enabled = True


def is_grad_enabled():
    """True unless inside ``no_grad()``."""
    return _grad_enabled


@contextlib.contextmanager
def _grad_mode(enabled):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, enabled
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """Context manager: Functions called inside keep no graph.

    Inference and featurization run under it, so no activation is held for a backward pass
    that will never come: each intermediate array is freed as soon as the next op has used it.
    """
    return _grad_mode(False)


def enable_grad():
    """Context manager that turns graph building back on inside a ``no_grad()`` block."""
    return _grad_mode(True)


class Tensor:
    """An n-dimensional array (NumPy or CuPy) with an optional gradient.

    Args:
        data: the array (any shape). Python scalars and lists become float arrays.
        requires_grad: whether ``backward()`` should compute ``grad`` for this (leaf) tensor.
        name: an optional label shown in ``repr``.
    """

    __array_priority__ = 200  # so ndarray <op> Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad=False, name=None):
        if isinstance(data, Tensor):
            data = data.data
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = np.asarray(data, dtype=np.float32 if _is_float_like(data) else None)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.creator = None
        self.generation = 0
        self.name = name

    # -- array-like views ------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        label = f", name={self.name!r}" if self.name else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{grad}{label})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if it lives there)."""
        return to_cpu(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def detach(self):
        """A new leaf Tensor sharing this data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self):
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    # -- backward --------------------------------------------------------------------------
    def backward(self, gy=None, retain_grad=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires a grad.

        Functions run in reverse topological order (highest generation first), so a tensor's
        gradient is complete, summed over every path that used it, before its creator runs.
        Each intermediate gradient is dropped as soon as its creator has consumed it, and each
        Function lets go of its inputs after its backward, freeing activations as we go.

        Args:
            gy: the gradient of the final objective w.r.t. this tensor; ones if omitted
                (so a scalar loss needs none).
            retain_grad: also store ``grad`` on intermediate tensors (for inspection).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad "
                               "(was it computed under no_grad(), or from frozen params only?)")
        gy = self._seed_grad(gy)
        if self.creator is None:
            self._accumulate(gy)
            return
        # id -> (tensor, gradient): holding the tensor keeps it (and its id) alive until its
        # creator has consumed the gradient, even after the Function that used it let go.
        pending = {id(self): (self, gy)}
        queue = _BackwardQueue(self.creator)
        for f in queue:
            gxs = f.run_backward(f.output_grads(pending, retain_grad))
            for x, gx in zip(f.inputs, gxs):
                if gx is not None and x.requires_grad:
                    x._receive(gx, pending, queue)
            f.release()

    def _seed_grad(self, gy):
        """The starting gradient as an array: ``gy``, or ones for the usual scalar loss."""
        if gy is None:
            return get_array_module(self.data).ones_like(self.data)
        if isinstance(gy, Tensor):
            return gy.data  # (not getattr(gy, "data"): a NumPy array's .data is a memoryview)
        return gy

    def _receive(self, gx, pending, queue):
        """Take one path's gradient: a leaf keeps it in ``grad``; an intermediate tensor sums it
        into ``pending`` until its creator runs, which is queued once."""
        if self.creator is None:
            self._accumulate(gx)
            return
        key = id(self)
        pending[key] = (self, gx if key not in pending else pending[key][1] + gx)
        queue.push(self.creator)

    def _accumulate(self, gx):
        if gx.shape != self.data.shape:
            raise RuntimeError(f"gradient of shape {gx.shape} for a tensor of shape {self.shape}")
        self.grad = gx if self.grad is None else self.grad + gx

    # -- operators (defined in minidl.ops.math; imported late to avoid a cycle) ----------------
    def __add__(self, other):
        return _math().add(self, other)

    def __radd__(self, other):
        return _math().add(other, self)

    def __sub__(self, other):
        return _math().sub(self, other)

    def __rsub__(self, other):
        return _math().sub(other, self)

    def __mul__(self, other):
        return _math().mul(self, other)

    def __rmul__(self, other):
        return _math().mul(other, self)

    def __truediv__(self, other):
        return _math().div(self, other)

    def __rtruediv__(self, other):
        return _math().div(other, self)

    def __neg__(self):
        return _math().neg(self)

    def __pow__(self, exponent):
        return _math().power(self, exponent)

    def __matmul__(self, other):
        return _math().matmul(self, other)

    def __rmatmul__(self, other):
        return _math().matmul(other, self)

    def __getitem__(self, index):
        return _math().get_item(self, index)

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (all axes when None), differentiable."""
        return _math().sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis`` (all axes when None), differentiable."""
        return _math().mean(self, axis, keepdims)

    def reshape(self, *shape):
        """The same values in ``shape`` (a tuple or the sizes as arguments), differentiable."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _math().reshape(self, tuple(shape))

    def transpose(self, *axes):
        """The axes permuted (reversed when none are given), differentiable."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _math().transpose(self, tuple(axes) if axes else None)

    @property
    def T(self):
        return self.transpose()


def _math():
    from minidl.ops import math
    return math


def _is_float_like(data):
    return isinstance(data, (float, int, list, tuple)) and not isinstance(data, bool)


def as_tensor(x):
    """``x`` if it is already a Tensor, else a constant (non-grad) Tensor wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


class _BackwardQueue:
    """The Functions still to run backward, highest generation first, each exactly once.

    A Function's generation is one more than its newest input's, so every Function that
    consumed a tensor comes out before the Function that created it: by then the tensor's
    gradient has been summed over all its uses.
    """

    def __init__(self, first):
        self._heap, self._queued = [], set()
        self._order = itertools.count()  # tie-breaker so the heap never compares Functions
        self.push(first)

    def push(self, f):
        if id(f) not in self._queued:
            self._queued.add(id(f))
            heapq.heappush(self._heap, (-f.generation, next(self._order), f))

    def __iter__(self):
        while self._heap:
            yield heapq.heappop(self._heap)[2]
