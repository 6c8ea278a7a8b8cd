"""ONNX ops on whole tensors: arithmetic, Concat, the reshapes, Transpose, Pad, and the ops
that are the identity at inference (Identity, Dropout, Cast to a float type).

    Add / Sub / Mul of same-shaped data   ElementWiseVertex (Add, Subtract, Product)
    the same, broadcasting, or Div        BroadcastVertex
    data (op) constant                    ConstantArithmeticLayer; an Add of a bias right
                                          after a MatMul becomes that DenseLayer's bias
    Concat along the channels             MergeVertex
    Slice of the channels                 SubsetVertex
    Flatten / Reshape / (Un)Squeeze       a view; real (PreprocessorVertex with
                                          CnnToFeedForward, else ReshapeVertex) when read
    Transpose                             TransposeVertex (the batch axis stays first)
    Pad (constant 0, spatial axes)        ZeroPaddingLayer
"""

import math

import numpy as np

from minidl.modelimport.onnx.folding import BATCH, has_batch
from minidl.nn.conf.onnx_vertices import BroadcastVertex, TransposeVertex
from minidl.nn.conf.vertices import ElementWiseVertex, MergeVertex, SubsetVertex
from minidl.nn.layers import ConstantArithmeticLayer, DenseLayer, ZeroPaddingLayer

_ELEMENTWISE = {"Add": "Add", "Sub": "Subtract", "Mul": "Product"}


def arithmetic(g, node, inputs, attrs):
    """Add / Sub / Mul / Div: of two data tensors, or of data and a constant."""
    a, b = inputs
    if a.is_const or b.is_const:
        return _with_constant(g, node, a, b)
    if a.shape == b.shape and node.op_type in _ELEMENTWISE:
        vertex = ElementWiseVertex(op=_ELEMENTWISE[node.op_type])
    else:
        vertex = BroadcastVertex(op=node.op_type.lower())
    g.add(node, vertex, [a, b])


def _with_constant(g, node, a, b):
    constant_first = a.is_const
    x, c = (b, a.const) if constant_first else (a, b.const)
    rank = len(x.shape) + 1
    if c.ndim > rank or (c.ndim == rank and c.shape[0] != 1):
        g.fail(node, f"the constant of shape {list(c.shape)} would broadcast over the batch of "
                     f"a [batch, {', '.join(map(str, x.shape))}] input")
    if node.op_type == "Add" and _set_dense_bias(g, x, c):
        return g.alias(node, x)
    layer = ConstantArithmeticLayer(op=node.op_type.lower(), constant_shape=c.shape,
                                    constant_first=constant_first)
    g.add(node, layer, [x], {"c": np.array(c, dtype=np.float32, order="C")})


def _set_dense_bias(g, x, c):
    """MatMul + Add(bias) is one DenseLayer: put ``c`` in as the bias when it fits."""
    layer = g.producer(x)
    if not isinstance(layer, DenseLayer) or layer.has_bias or not g.sole_reader(x) \
            or c.size != layer.n_out or c.shape[-1] != layer.n_out:
        return False
    layer.has_bias = True
    g.params[x.vertex]["b"] = c.reshape(-1).astype(np.float32)
    return True


_VARIADIC = {"Sum": "Add", "Mean": "Average", "Max": "Max"}


def variadic(g, node, inputs, attrs):
    """Sum / Mean / Max / Min of data tensors: ElementWiseVertex when they have one shape,
    BroadcastVertex for two that broadcast (Max, Min)."""
    if any(v.is_const for v in inputs):
        g.fail(node, f"{node.op_type} with a constant input is not supported")
    if len({v.shape for v in inputs}) == 1 and node.op_type in _VARIADIC:
        return g.add(node, ElementWiseVertex(op=_VARIADIC[node.op_type]), inputs)
    if len(inputs) == 2 and node.op_type in ("Max", "Min"):
        return g.add(node, BroadcastVertex(op=node.op_type.lower()), inputs)
    g.fail(node, f"{node.op_type} of inputs of shapes {[v.shape for v in inputs]} is not "
                 f"supported (same shapes, or two that broadcast for Max / Min)")


def concat(g, node, inputs, attrs):
    """Concat of data along axis 1: a MergeVertex."""
    if any(v.is_const for v in inputs):
        g.fail(node, "concatenating data with a constant is not supported")
    rank = len(inputs[0].shape) + 1
    if int(attrs["axis"]) % rank != 1:
        g.fail(node, f"only concatenation along the channel / feature axis 1 is supported "
                     f"(MergeVertex), got axis {attrs['axis']} of a rank-{rank} input")
    g.add(node, MergeVertex(), inputs)


def slice_(g, node, inputs, attrs):
    """Slice of data along axis 1 with step 1: DL4J's SubsetVertex (inclusive bounds)."""
    x = _data(g, node, inputs[0])
    starts, ends = (g.constant(node, v, what).ravel() for v, what in
                    zip(inputs[1:3], ("starts", "ends")))
    rank = len(x.shape) + 1
    axes = [int(a) % rank for a in g.constant(node, inputs[3], "axes").ravel()] \
        if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
    steps = g.constant(node, inputs[4], "steps").ravel() \
        if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    if axes != [1] or int(steps[0]) != 1:
        g.fail(node, f"only slices of axis 1 with step 1 are supported (SubsetVertex), got "
                     f"axes {axes}, steps {list(steps)}")
    first, stop, _ = slice(int(starts[0]), int(ends[0])).indices(x.shape[0])
    if stop <= first:
        g.fail(node, f"the slice {first}..{stop} of axis 1 is empty")
    g.add(node, SubsetVertex(from_index=first, to_index=stop - 1), [x])


def _per_example(g, node, x, target, allowzero):
    """The per-example shape of Reshape's ``target`` (full, with the batch first)."""
    target = list(target.ravel())
    first = target[0]
    batch = g.declared_batch
    if not (first is BATCH or (first == 0 and not allowzero) or first == -1
            or (batch is not None and first == batch)):
        g.fail(node, f"the target shape {target} changes the batch axis; only reshapes that "
                     f"keep it are supported")
    rest = [x.shape[i] if (d == 0 and not allowzero and i < len(x.shape)) else d
            for i, d in enumerate(target[1:])]
    if any(d is BATCH for d in rest):
        g.fail(node, f"the target shape {target} moves the batch axis")
    rest = [int(d) for d in rest]
    size, known = math.prod(x.shape), math.prod(d for d in rest if d != -1)
    if first == -1 and -1 in rest or -1 not in rest and known != size or \
            known == 0 or size % known:
        g.fail(node, f"cannot reshape per-example shape {list(x.shape)} to {target} keeping "
                     f"the batch axis")
    return tuple(size // known if d == -1 else d for d in rest)


def reshape(g, node, inputs, attrs):
    """Reshape of data that keeps the batch axis first: a view."""
    x = _data(g, node, inputs[0])
    target = g.constant(node, inputs[1], "the target shape")
    if not has_batch(target):
        target = target.astype(np.int64)
    g.view(node.output[0], x, _per_example(g, node, x, target, attrs.get("allowzero", 0)), node)


def flatten(g, node, inputs, attrs):
    """Flatten(axis >= 1) of data: a view."""
    x = _data(g, node, inputs[0])
    axis = int(attrs.get("axis", 1)) % (len(x.shape) + 1)
    if axis == 0:
        g.fail(node, "Flatten(axis=0) merges the batch axis")
    shape = tuple(x.shape[:axis - 1]) + (math.prod(x.shape[axis - 1:]),)
    g.view(node.output[0], x, shape, node)


def _axes(g, node, inputs, attrs):
    if g.opset < 13:
        return attrs.get("axes")
    return None if len(inputs) < 2 or inputs[1] is None else \
        [int(a) for a in g.constant(node, inputs[1], "axes").ravel()]


def squeeze(g, node, inputs, attrs):
    """Squeeze of axes after the batch's: a view."""
    x = _data(g, node, inputs[0])
    rank, axes = len(x.shape) + 1, _axes(g, node, inputs, attrs)
    axes = [i + 1 for i, d in enumerate(x.shape) if d == 1] if axes is None else \
        [a % rank for a in axes]
    if 0 in axes or any(x.shape[a - 1] != 1 for a in axes):
        g.fail(node, f"cannot squeeze axes {axes} of [batch, {', '.join(map(str, x.shape))}]")
    shape = tuple(d for i, d in enumerate(x.shape) if i + 1 not in axes)
    g.view(node.output[0], x, shape, node)


def unsqueeze(g, node, inputs, attrs):
    """Unsqueeze of axes after the batch's: a view."""
    x = _data(g, node, inputs[0])
    axes = _axes(g, node, inputs, attrs)
    rank = len(x.shape) + 1 + len(axes)
    full = [None] + list(x.shape)
    for axis in sorted(a % rank for a in axes):
        if axis == 0:
            g.fail(node, "unsqueezing axis 0 moves the batch axis")
        full.insert(axis, 1)
    g.view(node.output[0], x, tuple(full[1:]), node)


def transpose(g, node, inputs, attrs):
    """Transpose that keeps the batch axis first: a TransposeVertex."""
    x = _data(g, node, inputs[0])
    rank = len(x.shape) + 1
    perm = [int(p) for p in attrs.get("perm", range(rank - 1, -1, -1))]
    if perm[0] != 0:
        g.fail(node, f"perm {perm} moves the batch axis")
    shape = tuple(x.shape[p - 1] for p in perm[1:])
    g.add(node, TransposeVertex(perm=[p - 1 for p in perm[1:]]), [x], shape=shape)


def _pads(g, node, inputs, attrs, rank):
    if g.opset < 11:
        return list(attrs["pads"]), float(attrs.get("value", 0.0))
    pads = [int(p) for p in g.constant(node, inputs[1], "pads").ravel()]
    value = 0.0 if len(inputs) < 3 or inputs[2] is None else \
        float(g.constant(node, inputs[2], "constant_value").ravel()[0])
    if len(inputs) > 3 and inputs[3] is not None:  # opset 18: pads for these axes only
        axes = [int(a) % rank for a in g.constant(node, inputs[3], "axes").ravel()]
        full = [0] * (2 * rank)
        for i, axis in enumerate(axes):
            full[axis], full[rank + axis] = pads[i], pads[len(axes) + i]
        pads = full
    return pads, value


def pad(g, node, inputs, attrs):
    """Pad with zeros of the height and width of a feature map: a ZeroPaddingLayer."""
    x = _data(g, node, inputs[0])
    rank = len(x.shape) + 1
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads, value = _pads(g, node, inputs, attrs, rank)
    if mode != "constant" or value != 0.0 or rank != 4 or any(pads[i] for i in (0, 1, 4, 5)) \
            or min(pads) < 0:
        g.fail(node, f"only zero padding of the height and width of a 4-d input is supported "
                     f"(ZeroPaddingLayer), got mode {mode!r}, value {value}, pads {pads}")
    top, left, bottom, right = pads[2], pads[3], pads[6], pads[7]
    shape = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right)
    g.add(node, ZeroPaddingLayer(padding=(top, bottom, left, right)), [x], shape=shape)


def _data(g, node, value):
    if value is None or value.is_const:
        g.fail(node, "expected data (computed from the network's input), got a constant")
    return value


def identity(g, node, inputs, attrs):
    """Identity, and Dropout at inference: the output is the input."""
    if any(g.readers.get(out, 0) for out in node.output[1:]):
        g.fail(node, "the mask output of Dropout is not supported")
    g.alias(node, _data(g, node, inputs[0]))


def cast(g, node, inputs, attrs):
    """Cast of data to a float type: the identity (the network computes in its own dtype)."""
    from onnx import TensorProto
    if attrs.get("to") not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
        g.fail(node, f"casting data to type {attrs.get('to')} (not a float type) is not "
                     f"supported")
    g.alias(node, _data(g, node, inputs[0]))


CONVERTERS = {
    "Add": arithmetic, "Sub": arithmetic, "Mul": arithmetic, "Div": arithmetic,
    "Sum": variadic, "Mean": variadic, "Max": variadic, "Min": variadic,
    "Concat": concat, "Slice": slice_, "Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze,
    "Unsqueeze": unsqueeze, "Transpose": transpose, "Pad": pad,
    "Identity": identity, "Dropout": identity, "Cast": cast,
}
