"""Graph vertices for what ONNX models compute and DL4J has no layer for.

An imported ONNX model maps onto DL4J's layers wherever one fits (``minidl.modelimport.onnx``);
what is left are tensor manipulations that DL4J's feed-forward world spells with preprocessors or
not at all. Each is a small parameter-free vertex here, saved with the model like MergeVertex:

    TransposeVertex(perm)            ONNX Transpose: [batch, ...] axes permuted, batch kept first
    ReshapeVertex(shape)             ONNX Reshape / Flatten / Squeeze / Unsqueeze on data:
                                     [batch, ...] -> [batch, *shape] (one -1 allowed)
    BroadcastVertex(op)              ONNX Add / Sub / Mul / Div / Max / Min of two tensors that
                                     broadcast (NumPy rules), e.g. [N, C, H, W] * [N, C, 1, 1]
    ClipVertex(min_value, max_value) ONNX Clip with bounds other than ReLU6's (0, 6)
    ScaledActivationVertex(activation, alpha, beta)
                                     LeakyRelu / Elu with another alpha than DL4J's, and
                                     HardSigmoid max(0, min(1, alpha x + beta)) with ONNX's
                                     alpha / beta when they are not DL4J's (0.2, 0.5)

Shapes are per example (the batch axis is never named): ``perm`` permutes the axes after the
batch's, ``shape`` is the shape after it.
"""

import dataclasses
import math

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.vertices import GraphVertex


def type_of(shape):
    """The InputType of per-example ``shape``: (c, h, w) convolutional, (n,) feed-forward; None
    for other ranks (the graph then infers no types past this vertex, which layers with n_in
    set do not need)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 3:
        return InputType.convolutional(shape[1], shape[2], shape[0])
    if len(shape) == 1:
        return InputType.feed_forward(shape[0])
    return None


def _broadcast(a, b):
    """The NumPy broadcast of per-example shapes ``a`` and ``b``."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"BroadcastVertex: shapes {a} and {b} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


@with_builder
@dataclasses.dataclass
class TransposeVertex(GraphVertex):
    """Permutes the axes after the batch: [batch, d1, ..., dk] -> [batch, d(perm[0]+1), ...].

    ``perm`` is per example (ONNX's perm minus the batch axis, minus one): the NHWC -> NCHW
    transpose that starts a tf2onnx model, ONNX perm [0, 3, 1, 2], is ``perm=(2, 0, 1)``.
    """

    perm: tuple = (0,)

    builder_args = ("perm",)

    def __post_init__(self):
        self.perm = tuple(int(p) for p in self.perm)

    def output_type(self, input_types):
        shape = input_types[0].shape()
        if len(shape) != len(self.perm):
            return None
        return type_of(shape[p] for p in self.perm)

    def forward(self, inputs, ctx):
        x = inputs[0]
        if x.ndim != len(self.perm) + 1:
            raise ValueError(f"TransposeVertex(perm={self.perm}): expected input of rank "
                             f"{len(self.perm) + 1}, got shape {tuple(x.shape)}")
        return ops.transpose(x, (0,) + tuple(p + 1 for p in self.perm))


@with_builder
@dataclasses.dataclass
class ReshapeVertex(GraphVertex):
    """[batch, ...] -> [batch, *shape], the values in C order (NumPy's reshape); one entry of
    ``shape`` may be -1, worked out from the input's size."""

    shape: tuple = (-1,)

    builder_args = ("shape",)

    def __post_init__(self):
        self.shape = tuple(int(d) for d in self.shape)

    def _resolved(self, size):
        known = math.prod(d for d in self.shape if d != -1)
        if -1 not in self.shape:
            return self.shape if known == size else None
        return tuple(size // known if d == -1 else d for d in self.shape) \
            if known and size % known == 0 else None

    def output_type(self, input_types):
        shape = self._resolved(input_types[0].flat_size())
        if shape is None:
            raise ValueError(f"ReshapeVertex(shape={self.shape}): cannot reshape "
                             f"{input_types[0]} to it")
        return type_of(shape)

    def forward(self, inputs, ctx):
        x = inputs[0]
        shape = self._resolved(math.prod(x.shape[1:]))
        if shape is None:
            target = ", ".join(map(str, self.shape))
            raise ValueError(f"ReshapeVertex(shape={self.shape}): cannot reshape an input of "
                             f"shape {tuple(x.shape)} to [batch, {target}]")
        return ops.reshape(x, (x.shape[0],) + shape)


_BROADCAST_OPS = {"add": ops.add, "sub": ops.sub, "mul": ops.mul, "div": ops.div}


def _maximum(a, b):
    return a + ops.relu(b - a)  # differentiable with the ops at hand; ties go to a


def _minimum(a, b):
    return a - ops.relu(a - b)


@with_builder
@dataclasses.dataclass
class BroadcastVertex(GraphVertex):
    """``a (op) b`` for two inputs that broadcast as NumPy does (per example, the batch axes
    equal): ``op`` is "add", "sub", "mul", "div", "max" or "min". Same-shaped Add, Sub and Mul
    import as DL4J's ElementWiseVertex instead."""

    op: str = "add"

    builder_args = ("op",)

    def __post_init__(self):
        self.op = str(self.op).lower()
        if self.op not in list(_BROADCAST_OPS) + ["max", "min"]:
            raise ValueError(f"BroadcastVertex: unknown op {self.op!r}; expected add, sub, mul, "
                             f"div, max or min")

    def output_type(self, input_types):
        return type_of(_broadcast(input_types[0].shape(), input_types[1].shape()))

    def forward(self, inputs, ctx):
        self._check_count(f"BroadcastVertex({self.op})", inputs, exactly=2)
        a, b = inputs
        fn = {"max": _maximum, "min": _minimum}.get(self.op) or _BROADCAST_OPS[self.op]
        if a.ndim != b.ndim:  # align per-example ranks after the batch axis, as ONNX does
            rank = max(a.ndim, b.ndim)
            a = ops.reshape(a, (a.shape[0],) + (1,) * (rank - a.ndim) + tuple(a.shape[1:]))
            b = ops.reshape(b, (b.shape[0],) + (1,) * (rank - b.ndim) + tuple(b.shape[1:]))
        return fn(a, b)


@with_builder
@dataclasses.dataclass
class ClipVertex(GraphVertex):
    """min(max(x, min_value), max_value), elementwise; None leaves that side open."""

    min_value: float = None
    max_value: float = None

    builder_args = ("min_value", "max_value")

    def forward(self, inputs, ctx):
        x = inputs[0]
        if self.min_value is not None:
            x = self.min_value + ops.relu(x - self.min_value)
        if self.max_value is not None:
            x = self.max_value - ops.relu(self.max_value - x)
        return x


@with_builder
@dataclasses.dataclass
class ScaledActivationVertex(GraphVertex):
    """An activation with ONNX's parameters where they are not DL4J's defaults:
    "leakyrelu" (slope ``alpha``), "elu" (scale ``alpha``) or "hardsigmoid"
    (max(0, min(1, alpha x + beta)))."""

    activation: str = "leakyrelu"
    alpha: float = 0.01
    beta: float = 0.0

    builder_args = ("activation", "alpha", "beta")

    def __post_init__(self):
        self.activation = str(self.activation).lower()
        if self.activation not in ("leakyrelu", "elu", "hardsigmoid"):
            raise ValueError(f"ScaledActivationVertex: unknown activation {self.activation!r}; "
                             f"expected leakyrelu, elu or hardsigmoid")

    def forward(self, inputs, ctx):
        x = inputs[0]
        if self.activation == "hardsigmoid":
            z = x * float(self.alpha) + float(self.beta)
            return 1.0 - ops.relu(1.0 - ops.relu(z))
        return ops.activation(x, self.activation, float(self.alpha))
