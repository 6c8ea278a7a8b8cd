"""Activation functions, DL4J's set: elementwise ones as ``ActivationFunction`` objects, and
softmax.

Every elementwise activation here has a derivative that can be written through its output
y = f(z) alone: relu' = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2, softplus' = 1 - e^-y,
and so on (each row of ``ACTIVATIONS``). Two savings follow:

- the backward keeps only y, never z;
- an op that has just computed a pre-activation (``conv2d``, ``linear``, with ``activation=``)
  can overwrite it with f(z + b) in place, block by block while it is still in cache: no second
  activation-sized array and one pass over memory fewer (``ActivationFunction.apply``).

Two exceptions, swish and hardswish (``NEEDS_INPUT``): they dip below zero and come back up,
so two inputs share one output and y cannot tell f'(z). Their Function keeps z, their
derivative rows read z, and an op must not apply them in place (``from_output``).

An ``ActivationFunction`` (``resolve("relu")``) is what those ops hold: the name and parameter
of f, with ``apply(z, bias, out)`` and ``gradient(y, gy)``. On the GPU, the activations of
``minidl/ops/cuda/bias_activation.cu`` (identity, relu, sigmoid, tanh, leakyrelu, elu, relu6,
hardsigmoid, swish, hardswish) run as one fused bias + activation kernel, forward and backward.
Softmax is not elementwise and has its own Function.
"""

from dataclasses import dataclass

from minidl.autograd import Function
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import _memory, _parallel, cuda

DEFAULT_ALPHA = {"leakyrelu": 0.01, "elu": 1.0}  # DL4J's: leakyrelu's slope, elu's scale


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


def _hardsigmoid(z, out, alpha):
    # DL4J's hard sigmoid: min(1, max(0, 0.2 z + 0.5)), a straight line from z = -2.5 to 2.5.
    xp = _xp(z)
    xp.multiply(z, 0.2, out=out)
    out += 0.5
    return xp.clip(out, 0, 1, out=out)


def _swish(z, out, alpha):
    # z * sigmoid(z), the sigmoid computed first (into out: z may be out itself).
    s = _sigmoid(z, _xp(z).empty_like(z), alpha)
    return _xp(z).multiply(z, s, out=out)


def _swish_derivative(z, alpha):
    # d/dz z s(z) = s + z s (1 - s) = s (1 + z (1 - s))
    s = _sigmoid(z, _xp(z).empty_like(z), alpha)
    return s * (1 + z * (1 - s))


def _hardswish(z, out, alpha):
    # z * relu6(z + 3) / 6 (MobileNetV3's; PyTorch's and Keras' hard_swish)
    return _into(out, z * _xp(z).clip(z + 3, 0, 6) / 6)


def _hardswish_derivative(z, alpha):
    # 0 below -3, 1 above 3, (2 z + 3) / 6 between (negative down to -1.5)
    xp = _xp(z)
    return xp.where(z < -3, 0.0, xp.where(z > 3, 1.0, (2 * z + 3) / 6)).astype(z.dtype)


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
    "relu6": (lambda z, out, alpha: _xp(z).clip(z, 0, 6, out=out),
              lambda y, alpha: ((y > 0) & (y < 6)).astype(y.dtype)),
    "hardsigmoid": (_hardsigmoid,
                    lambda y, alpha: _xp(y).where((y > 0) & (y < 1), 0.2, 0.0).astype(y.dtype)),
    # NEEDS_INPUT: these derivatives are written through z, not y.
    "swish": (_swish, _swish_derivative),
    "hardswish": (_hardswish, _hardswish_derivative),
}
# The activations whose derivative needs the input z (see the module docstring).
NEEDS_INPUT = frozenset({"swish", "hardswish"})


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

    @property
    def needs_input(self):
        """True when f'(z) cannot be read from y = f(z) (swish, hardswish): keep z."""
        return self.name in NEEDS_INPUT

    def apply(self, z, bias=None, out=None, residual=None):
        """f(z + bias + residual) as an array: written into ``out`` (``z`` itself for in place;
        default new).

        ``bias`` [n] adds along the last axis of z [..., n]: the channel axis of a channels-last
        array, the feature axis of a dense layer's [batch, n]. ``residual``, an array of z's
        shape, adds elementwise (a residual block's shortcut, summed in the pass that finishes
        the convolution before it, ``minidl.nn.fusion``). On the CPU a large z is cut along its
        first axis into slices split over the threads (``_parallel.each_slice``), and each
        slice gets its bias, residual and f while it is in cache: one pass over memory. A new
        ``out`` is on cached memory (``_memory.empty_like``), in z's memory order.
        """
        if self.is_identity and bias is None and residual is None and out is z:
            return z  # nothing to do, not even a kernel launch
        xp = get_array_module(z)
        if is_gpu_array(z) and cuda.supports_activation(self.name):
            if residual is not None:
                z = out = xp.add(z, residual, out=out)
            return cuda.bias_activation_forward(z, bias, self.name, self.alpha, out=out)
        out = _memory.empty_like(z) if out is None else out
        forward = ACTIVATIONS[self.name][0]

        def finish(s):
            part = z[s]
            if bias is not None:
                part = xp.add(part, bias, out=out[s])
            if residual is not None:
                part = xp.add(part, residual[s], out=out[s])
            forward(part, out[s], self.alpha)

        _parallel.each_slice(finish, z)
        return out

    def gradient(self, y, gy, z=None):
        """gz = gy * f'(z), from the output y = f(z) alone (``y`` may be None for identity), or
        from the input ``z`` for the activations in ``NEEDS_INPUT``. On the CPU, slice by slice
        on the threads as ``apply`` (f' of a slice is a temporary that stays in cache), into
        cached memory in y's order."""
        if self.is_identity:
            return gy
        if self.needs_input:
            if z is None:
                raise ValueError(f"activation {self.name!r}: its derivative needs the input z, "
                                 f"not only y = f(z); apply it with ops.activation (which keeps "
                                 f"z), not in place inside conv2d or linear")
            y = z  # the derivative rows of these read z
        if is_gpu_array(y) and cuda.supports_activation(self.name):
            return cuda.bias_activation_backward(y, gy, self.name, self.alpha)
        derivative = ACTIVATIONS[self.name][1]
        xp = get_array_module(y)
        gz = _memory.empty_like(y, xp.result_type(gy, y))

        def finish(s):
            xp.multiply(gy[s], derivative(y[s], self.alpha), out=gz[s])

        _parallel.each_slice(finish, y)
        return gz


IDENTITY = ActivationFunction("identity")


def resolve(name, alpha=None):
    """The ``ActivationFunction`` called ``name`` (DL4J's names, any case; softmax is not
    elementwise and not here), with DL4J's default ``alpha`` when none is given."""
    key = name.lower()
    if key not in ACTIVATIONS:
        known = sorted(list(ACTIVATIONS) + ["softmax"])
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(known)}")
    return ActivationFunction(key, DEFAULT_ALPHA.get(key, 0.0) if alpha is None else alpha)


def from_output(name):
    """True when activation ``name``'s derivative comes from its output alone, so that an op
    may overwrite its pre-activation with f(z) in place (``apply(z, ..., out=z)``)."""
    return not resolve(name).needs_input


# The functional forms, by name.

def apply(z, name, alpha=None, bias=None, out=None):
    """``resolve(name, alpha).apply(z, bias, out)``: f(z + bias), see ``ActivationFunction``."""
    return resolve(name, alpha).apply(z, bias, out)


def gradient(y, gy, name, alpha=None, z=None):
    """``resolve(name, alpha).gradient(y, gy, z)``: gz = gy * f'(z) from y = f(z) (or z)."""
    return resolve(name, alpha).gradient(y, gy, z)


class Elementwise(Function):
    """y = f(x) for an ``ActivationFunction`` f, elementwise on any shape; the backward keeps
    only y (and x for the activations in ``NEEDS_INPUT``)."""

    def __init__(self, activation):
        self.activation = activation

    def forward(self, x):
        self.y = self.activation.apply(x)
        self.x = x if self.activation.needs_input else None
        return self.y

    def backward(self, gy):
        return self.activation.gradient(self.y, gy, z=self.x)


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


class GeneralRelu(Function):
    """Keras' ``ReLU(max_value, negative_slope, threshold)`` (DL4J's ``ActivationReLU``),
    elementwise on any shape::

        f(x) = max_value                      x >= max_value
             = x                              threshold <= x < max_value
             = negative_slope (x - threshold) otherwise

    ``max_value`` None means no ceiling. The backward keeps x (f' is 0, 1 or the slope by
    where x lies, which y alone cannot tell when the slope is 0).
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0):
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        y = xp.where(x >= self.threshold, x, self.negative_slope * (x - self.threshold))
        if self.max_value is not None:
            y = xp.where(x >= self.max_value, self.max_value, y)
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        xp, x = get_array_module(gy), self.x
        slope = xp.where(x >= self.threshold, 1.0, self.negative_slope)
        if self.max_value is not None:
            slope = xp.where(x >= self.max_value, 0.0, slope)
        return gy * slope.astype(gy.dtype, copy=False)


def general_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """``GeneralRelu(max_value, negative_slope, threshold)(x)``; see that class."""
    return GeneralRelu(max_value, negative_slope, threshold)(x)
