"""Activation functions, DL4J's set: elementwise ones as ``ActivationFunction`` objects, and
softmax.

Every elementwise activation here has a derivative that can be written through its output
y = f(z) alone: relu' = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2, softplus' = 1 - e^-y,
and so on (each row of ``ACTIVATIONS``). Two savings follow:

- the backward keeps only y, never z;
- an op that has just computed a pre-activation (``conv2d``, ``linear``, with ``activation=``)
  can overwrite it with f(z + b) in place, block by block while it is still in cache: no second
  activation-sized array and one pass over memory fewer (``ActivationFunction.apply``).

An ``ActivationFunction`` (``resolve("relu")``) is what those ops hold: the name and parameter
of f, with ``apply(z, bias, out)`` and ``gradient(y, gy)``. On the GPU, the activations of
``minidl/ops/cuda/bias_activation.cu`` (identity, relu, sigmoid, tanh, leakyrelu, elu) run as
one fused bias + activation kernel, forward and backward. Softmax is not elementwise and has
its own Function.
"""

from dataclasses import dataclass

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _parallel, cuda

DEFAULT_ALPHA = {"leakyrelu": 0.01, "elu": 1.0}  # DL4J's: leakyrelu's slope, elu's scale
PARALLEL_SIZE = 2**20  # elements from which a CPU pass is split over the threads


def _xp(a):
    return get_array_module(a)


def _into(out, value):
    out[...] = value
    return out


def _sigmoid(z, out, alpha):
    # 0.5 * (1 + tanh(z/2)) is the logistic function without overflow for large |z|.
    xp = _xp(z)
    xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def _elu(z, out, alpha):
    xp = _xp(z)
    return _into(out, xp.where(z > 0, z, alpha * xp.expm1(xp.minimum(z, 0))))


# name -> (forward(z, out, alpha): writes f(z) into out, which may be z itself;
#          derivative(y, alpha): f'(z) written through y = f(z), in y's dtype)
ACTIVATIONS = {
    "identity": (lambda z, out, alpha: _into(out, z) if out is not z else out,
                 lambda y, alpha: _xp(y).ones_like(y)),
    "relu": (lambda z, out, alpha: _xp(z).maximum(z, 0, out=out),
             lambda y, alpha: (y > 0).astype(y.dtype)),
    "leakyrelu": (lambda z, out, alpha: _into(out, _xp(z).where(z > 0, z, z * alpha)),
                  lambda y, alpha: _xp(y).where(y > 0, 1.0, alpha).astype(y.dtype)),
    "elu": (_elu, lambda y, alpha: _xp(y).where(y > 0, 1.0, y + alpha).astype(y.dtype)),
    "sigmoid": (_sigmoid, lambda y, alpha: y * (1 - y)),
    "tanh": (lambda z, out, alpha: _xp(z).tanh(z, out=out), lambda y, alpha: 1 - y * y),
    # softplus' = sigmoid(z) = 1 - e^-y; -expm1(-y) keeps its precision where y is tiny.
    "softplus": (lambda z, out, alpha: _xp(z).logaddexp(0, z, out=out),
                 lambda y, alpha: -_xp(y).expm1(-y)),
    "hardtanh": (lambda z, out, alpha: _xp(z).clip(z, -1, 1, out=out),
                 lambda y, alpha: ((y > -1) & (y < 1)).astype(y.dtype)),
    # softsign' = 1 / (1 + |z|)^2 = (1 - |y|)^2
    "softsign": (lambda z, out, alpha: _into(out, z / (1 + abs(z))),
                 lambda y, alpha: (1 - abs(y)) ** 2),
}


@dataclass(frozen=True)
class ActivationFunction:
    """An elementwise activation f with its parameter, as the ops apply and differentiate it.

    ``name`` is a key of ``ACTIVATIONS`` (DL4J's name in lower case); ``alpha`` is leakyrelu's
    slope or elu's scale (0.0 for the others). Made by ``resolve``; ``conv2d``, ``linear`` and
    ``Elementwise`` hold one. Both methods take arrays of any shape, NumPy or CuPy.
    """

    name: str
    alpha: float = 0.0

    @property
    def is_identity(self):
        """True for f(z) = z, whose gradient needs no saved output."""
        return self.name == "identity"

    def apply(self, z, bias=None, out=None):
        """f(z + bias) as an array: written into ``out`` (``z`` itself for in place; default new).

        ``bias`` [n] adds along the last axis of z [..., n]: the channel axis of a channels-last
        array, the feature axis of a dense layer's [batch, n].
        """
        if self.is_identity and bias is None and out is z:
            return z  # nothing to do, not even a kernel launch
        if is_gpu_array(z) and cuda.supports_activation(self.name):
            return cuda.bias_activation_forward(z, bias, self.name, self.alpha, out=out)
        xp = get_array_module(z)
        if bias is not None:
            z = out = xp.add(z, bias, out=out)
        elif out is None:
            out = xp.empty_like(z)
        forward = ACTIVATIONS[self.name][0]
        if xp is not np or z.ndim == 0 or z.size < PARALLEL_SIZE:
            return forward(z, out, self.alpha)
        # A memory-bound pass over a whole activation: split over the batch on the CPU threads.
        _parallel.run([lambda s=s: forward(z[s], out[s], self.alpha)
                       for s in _parallel.cuts(z.shape[0], _parallel.THREADS)])
        return out

    def gradient(self, y, gy):
        """gz = gy * f'(z), from the output y = f(z) alone (``y`` may be None for identity)."""
        if self.is_identity:
            return gy
        if is_gpu_array(y) and cuda.supports_activation(self.name):
            return cuda.bias_activation_backward(y, gy, self.name, self.alpha)
        return gy * ACTIVATIONS[self.name][1](y, self.alpha)


IDENTITY = ActivationFunction("identity")


def resolve(name, alpha=None):
    """The ``ActivationFunction`` called ``name`` (DL4J's names, any case; softmax is not
    elementwise and not here), with DL4J's default ``alpha`` when none is given."""
    key = name.lower()
    if key not in ACTIVATIONS:
        known = sorted(list(ACTIVATIONS) + ["softmax"])
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(known)}")
    return ActivationFunction(key, DEFAULT_ALPHA.get(key, 0.0) if alpha is None else alpha)


# The functional forms, by name.

def apply(z, name, alpha=None, bias=None, out=None):
    """``resolve(name, alpha).apply(z, bias, out)``: f(z + bias), see ``ActivationFunction``."""
    return resolve(name, alpha).apply(z, bias, out)


def gradient(y, gy, name, alpha=None):
    """``resolve(name, alpha).gradient(y, gy)``: gz = gy * f'(z) from y = f(z)."""
    return resolve(name, alpha).gradient(y, gy)


class Elementwise(Function):
    """y = f(x) for an ``ActivationFunction`` f, elementwise on any shape; the backward keeps
    only y."""

    def __init__(self, activation):
        self.activation = activation

    def forward(self, x):
        self.y = self.activation.apply(x)
        return self.y

    def backward(self, gy):
        return self.activation.gradient(self.y, gy)


def activation(x, name, alpha=None):
    """Apply the activation called ``name`` (DL4J's names, any case) to tensor ``x``.

    ``alpha`` is the slope of leakyrelu (DL4J default 0.01) or the scale of elu (default 1.0).
    """
    key = name.lower()
    if key == "identity":
        return x
    if key == "softmax":
        return softmax(x)
    return Elementwise(resolve(key, alpha))(x)  # an unknown name fails here, before any work


# Shorthands for the common activations.

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
