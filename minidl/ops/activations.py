"""Activation functions, DL4J's set: each is an elementwise Function with its derivative.

Each activation is described by two array functions: ``f(x)`` and ``df(x, y)``, the derivative
written in terms of the input x and the output y = f(x). Writing the derivative through y where
possible (sigmoid' = y(1-y), tanh' = 1-y^2) saves recomputing exponentials in the backward.
Softmax is not elementwise and has its own Function.
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _parallel, cuda


class Elementwise(Function):
    """y = f(x) applied elementwise; backward gx = gy * df(x, y)."""

    def __init__(self, f, df, name):
        self.f, self.df, self.name = f, df, name

    def forward(self, x):
        self.x = x
        self.y = self.f(x)
        return self.y

    def backward(self, gy):
        return gy * self.df(self.x, self.y)


def _xp(a):
    return get_array_module(a)


def _sigmoid(x):
    xp = _xp(x)
    # 0.5 * (1 + tanh(x/2)) is the logistic function without overflow for large |x|.
    return (0.5 * (1.0 + xp.tanh(0.5 * x))).astype(x.dtype, copy=False)


def _softplus(x):
    xp = _xp(x)
    return xp.logaddexp(0, x).astype(x.dtype, copy=False)


def _relu(x):
    xp = _xp(x)
    if xp is not np or x.ndim == 0 or x.size < 2**20:
        return xp.maximum(x, 0)
    # A memory-bound pass over a whole activation: split over the batch on the CPU threads.
    y = np.empty_like(x)  # same memory layout as x (channels-last stays channels-last)
    _parallel.run([lambda s=s: np.maximum(x[s], 0, out=y[s])
                   for s in _parallel.cuts(x.shape[0], _parallel.THREADS)])
    return y


def _relu_derivative(x, y):
    return (x > 0).astype(x.dtype)


def _leaky(alpha):
    def f(x):
        return _xp(x).where(x > 0, x, x * alpha).astype(x.dtype, copy=False)

    def df(x, y):
        return _xp(x).where(x > 0, 1.0, alpha).astype(x.dtype, copy=False)
    return f, df


def _elu(alpha):
    def f(x):
        xp = _xp(x)
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)

    def df(x, y):
        return _xp(x).where(x > 0, 1.0, y + alpha).astype(x.dtype, copy=False)
    return f, df


ELEMENTWISE = {
    "identity": (lambda x: x, lambda x, y: _xp(x).ones_like(x)),
    "relu": (_relu, _relu_derivative),
    "sigmoid": (_sigmoid, lambda x, y: y * (1 - y)),
    "tanh": (lambda x: _xp(x).tanh(x), lambda x, y: 1 - y * y),
    "softplus": (_softplus, lambda x, y: _sigmoid(x)),
    "hardtanh": (lambda x: _xp(x).clip(x, -1, 1),
                 lambda x, y: ((x > -1) & (x < 1)).astype(x.dtype)),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x, y: 1 / (1 + abs(x)) ** 2),
}


def activation(x, name, alpha=None):
    """Apply the activation called ``name`` (DL4J's names, any case) to tensor ``x``.

    ``alpha`` is the slope of leakyrelu (DL4J default 0.01) or the scale of elu (default 1.0).
    """
    key = name.lower()
    if key == "identity":
        return x
    if key == "softmax":
        return softmax(x)
    if key == "leakyrelu":
        f, df = _leaky(0.01 if alpha is None else alpha)
    elif key == "elu":
        f, df = _elu(1.0 if alpha is None else alpha)
    elif key in ELEMENTWISE:
        f, df = ELEMENTWISE[key]
    else:
        known = sorted(list(ELEMENTWISE) + ["leakyrelu", "elu", "softmax"])
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(known)}")
    return Elementwise(f, df, key)(x)


def relu(x):
    return activation(x, "relu")


def sigmoid(x):
    return activation(x, "sigmoid")


def tanh(x):
    return activation(x, "tanh")


class Softmax(Function):
    """Softmax over axis 1 (classes of [batch, classes])."""

    def forward(self, x):
        if is_gpu_array(x) and x.ndim == 2:  # one kernel (minidl/ops/cuda/softmax_xent.cu)
            self.y = cuda.softmax(x)
            return self.y
        xp = get_array_module(x)
        # Subtracting the row maximum leaves softmax unchanged and keeps exp() from overflowing.
        e = xp.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return self.y

    def backward(self, gy):
        y = self.y
        if is_gpu_array(y):
            return cuda.softmax_backward(y, gy)
        # Jacobian-vector product of softmax: y * (gy - <gy, y>).
        return y * (gy - (gy * y).sum(axis=1, keepdims=True))


def softmax(x):
    return Softmax()(x)
