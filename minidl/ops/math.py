"""Elementary differentiable ops: arithmetic with broadcasting, matmul, reductions, reshapes.

Broadcasting is the one subtle part of their backward passes: if ``x`` of shape (3, 1) was
broadcast to (3, 4) in the forward, the four columns each received a copy of x, so the gradient
w.r.t. x is the sum of the four column gradients. ``sum_to`` does exactly that reduction.
"""

import numpy as np

from minidl.autograd import Function, Tensor, as_tensor
from minidl.backend import get_array_module
from minidl.ops import _memory, _parallel
from minidl.ops._checks import broadcast_shape, require_float
from minidl.ops._reduce import normalize_axes, sum_over


def sum_to(gx, shape):
    """Sum ``gx`` over the axes along which an array of ``shape`` was broadcast to ``gx.shape``."""
    if gx.shape == tuple(shape):
        return gx
    lead = gx.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gx.shape[lead + i] != 1)
    y = sum_over(gx, axes, keepdims=True)
    return y.reshape(shape) if lead else y


def _elementwise(ufunc, a, b):
    """``ufunc(a, b)``. Two NumPy float arrays of one shape and dtype (a residual add, a gate)
    go slice by slice on the threads (``_parallel.each_slice``) into cached memory in a's
    order (``_memory``); anything else takes NumPy's own broadcasting and promotion."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and a.dtype == b.dtype and a.dtype.kind == "f"):
        return ufunc(a, b)
    out = _memory.empty_like(a)
    _parallel.each_slice(lambda s: ufunc(a[s], b[s], out=out[s]), a)
    return out


def _lift(value, like):
    """A Tensor for ``value``; a Python scalar takes the dtype of ``like`` so float32 stays float32."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        xp = get_array_module(like)
        return Tensor(xp.asarray(value, dtype=like.dtype))
    return Tensor(value)


def _binary(fn_class, a, b):
    like = a if isinstance(a, Tensor) else b
    like = like.data if isinstance(like, Tensor) else like
    if not hasattr(like, "dtype"):  # a Python scalar or list (a device array stays put)
        like = np.asarray(like)
    return fn_class()(_lift(a, like), _lift(b, like))


class _Binary(Function):
    """a (op) b elementwise with NumPy broadcasting; ``reduce`` sums each input's gradient
    back to that input's shape."""

    op = "binary op"

    def forward(self, a, b):
        broadcast_shape(self.op, a.shape, b.shape)
        self.a_shape, self.b_shape = a.shape, b.shape
        return self.compute(a, b)

    def reduce(self, ga, gb):
        return (sum_to(ga, self.a_shape) if ga is not None else None,
                sum_to(gb, self.b_shape) if gb is not None else None)


class Add(_Binary):
    """a + b; both inputs get gy."""

    op = "add"

    def compute(self, a, b):
        return _elementwise(np.add, a, b)

    def backward(self, gy):
        return self.reduce(gy, gy)


class Sub(_Binary):
    """a - b; a gets gy, b gets -gy."""

    op = "sub"

    def compute(self, a, b):
        return _elementwise(np.subtract, a, b)

    def backward(self, gy):
        return self.reduce(gy, -gy)


class Mul(_Binary):
    """a * b; each input's gradient is gy times the other input."""

    op = "mul"

    def compute(self, a, b):
        self.a, self.b = a, b
        return _elementwise(np.multiply, a, b)

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        return self.reduce(gy * self.b if need_a else None, gy * self.a if need_b else None)


class Div(_Binary):
    """a / b; ga = gy / b, gb = -gy * a / b**2."""

    op = "div"

    def compute(self, a, b):
        self.a, self.b = a, b
        return _elementwise(np.divide, a, b)

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        ga = gy / self.b if need_a else None
        gb = -gy * self.a / (self.b * self.b) if need_b else None
        return self.reduce(ga, gb)


class Neg(Function):
    """-x, any shape."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Power(Function):
    """x ** c for a constant exponent c."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        self.x = x
        return x ** self.exponent

    def backward(self, gy):
        c = self.exponent
        return gy * c * self.x ** (c - 1)


class Exp(Function):
    """exp(x), any shape; its derivative is its own output."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """Natural log of x, any shape; gx = gy / x."""

    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        return xp.log(x)

    def backward(self, gy):
        return gy / self.x


class MatMul(Function):
    """a @ b for 2-d a [m, k] and b [k, n] (batched leading dimensions allowed)."""

    def forward(self, a, b):
        require_float("matmul", "a", a)
        require_float("matmul", "b", b)
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align "
                             f"(a's last dimension must equal b's second-to-last)")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        ga = gy @ self.b.swapaxes(-1, -2) if need_a else None
        gb = self.a.swapaxes(-1, -2) @ gy if need_b else None
        if ga is not None:
            ga = sum_to(ga, self.a.shape)
        if gb is not None:
            gb = sum_to(gb, self.b.shape)
        return ga, gb


class Sum(Function):
    """Sum over ``axis`` (all axes by default); the gradient is gy copied back over
    the summed axes."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return sum_over(x, self.axis, self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        if not self.keepdims and self.axis is not None:
            for a in normalize_axes(self.axis, len(self.x_shape)):
                gy = xp.expand_dims(gy, a)
        return xp.broadcast_to(gy, self.x_shape).copy()


class Max(Function):
    """Maximum over ``axis`` (an int, a tuple of ints, or None for all axes).

    The gradient goes to one element per maximum: the first position of the maximum, in C order
    over the reduced axes, as DL4J and ``torch.max(x, dim)`` do; the other tied elements get
    nothing (``torch.amax`` would split the gradient evenly among them instead).
    """

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        y = x.max(axis=self.axis, keepdims=True)
        self.y_shape = y.shape  # gy is reshaped to this: the reduced axes kept, of size 1
        return y if self.keepdims else y.squeeze(axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        x = self.x
        reduced = list(normalize_axes(self.axis, x.ndim))
        order = [a for a in range(x.ndim) if a not in reduced] + reduced
        # Move the reduced axes to the end and flatten them into one: each row of ``rows`` holds
        # the elements of one maximum, in C order, and argmax gives the first maximum of a row.
        moved = x.transpose(order)
        rows = moved.reshape(moved.shape[:x.ndim - len(reduced)] + (-1,))
        first = rows.argmax(axis=-1)[..., None]
        one_hot = xp.arange(rows.shape[-1]) == first
        mask = one_hot.reshape(moved.shape).transpose([order.index(a) for a in range(x.ndim)])
        return mask * gy.reshape(self.y_shape)


class Reshape(Function):
    """x viewed with a new shape of the same size; gx is gy reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape an array of shape {tuple(x.shape)} "
                             f"({x.size} elements) into {self.shape}") from None

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Function):
    """x with its axes permuted (reversed by default); gx permutes gy back."""

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        return gy.transpose(np.argsort(self.axes))


class BroadcastTo(Function):
    """x broadcast to ``shape``; gx is gy summed back to x's shape (``sum_to``)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        xp = get_array_module(x)
        broadcast_shape("broadcast_to", x.shape, self.shape)
        self.x_shape = x.shape
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


class GetItem(Function):
    """x[index] for any NumPy index; gx scatters gy back (repeated indices add up)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        xp.add.at(gx, self.index, gy)
        return gx


class Concat(Function):
    """Concatenate along an axis (DL4J's MergeVertex uses axis 1: channels or features)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        self.sizes = [x.shape[self.axis] for x in xs]
        try:
            return xp.concatenate(xs, axis=self.axis)
        except ValueError:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise ValueError(f"concat: shapes {shapes} differ outside axis {self.axis}") from None

    def backward(self, gy):
        xp = get_array_module(gy)
        bounds = np.cumsum(self.sizes)[:-1]
        return tuple(xp.split(gy, bounds, axis=self.axis))


# -- functional forms: what the rest of the engine calls --------------------------------------
# Each builds its Function and applies it: ``add(a, b)`` is ``Add()(a, b)``. Python scalars take
# the dtype of the array beside them (``_lift``), so ``x * 0.5`` keeps float32 float32.

def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    return _binary(Div, a, b)


def neg(x):
    return Neg()(x)


def power(x, exponent):
    return Power(exponent)(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def matmul(a, b):
    return MatMul()(a, b)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - mirrors numpy's name
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    axes = range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    count = int(np.prod([x.shape[a] for a in axes]))
    return mul(sum(x, axis, keepdims), 1.0 / count)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max(axis, keepdims)(x)


def reshape(x, shape):
    x = as_tensor(x)
    if tuple(x.shape) == tuple(shape):
        return x
    return Reshape(tuple(shape))(x)


def transpose(x, axes=None):
    return Transpose(axes)(x)


def broadcast_to(x, shape):
    x = as_tensor(x)
    if tuple(x.shape) == tuple(shape):
        return x
    return BroadcastTo(shape)(x)


def get_item(x, index):
    return GetItem(index)(x)


def concat(xs, axis=1):
    return Concat(axis)(*xs)


def flatten(x):
    """[N, ...] -> [N, prod(...)] in C order (for NCHW: channel, then row, then column)."""
    x = as_tensor(x)
    return reshape(x, (x.shape[0], int(np.prod(x.shape[1:]))))
