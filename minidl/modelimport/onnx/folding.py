"""Constant folding: everything in an ONNX graph that does not depend on the data, computed once.

Exporters write shape arithmetic into the graph: ``x.view(x.size(0), -1)`` with a dynamic batch
becomes Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Keras' runtime "same" padding a
chain of Shape / Sub / Div / Concat / Cast. All of it is known at import time except the batch
size, which stands in these arrays as the symbol ``BATCH`` (an object-dtype entry). Folding runs
each such node on NumPy; a node whose inputs are all constants is folded, and the importer then
reads Reshape's shape, Pad's pads, Clip's bounds and the like as plain arrays.

``fold(node, inputs, opset)`` returns the node's output arrays, or None when it cannot (an op
outside ``FOLDABLE``, arithmetic on the batch symbol).
"""

import numpy as np


class _Batch:
    """The batch size, unknown until run time: what Shape gives for a data tensor's axis 0."""

    def __repr__(self):
        return "batch"

    def __reduce__(self):
        return "BATCH"


BATCH = _Batch()


class NotFoldable(Exception):
    """A node whose inputs are constants but whose result depends on the batch size."""


def has_batch(array):
    """Whether ``array`` holds the batch symbol."""
    return array.dtype == object and any(v is BATCH for v in array.ravel())


def _ints(array):
    """A constant int array as NumPy int64 when it holds no batch symbol."""
    return array if has_batch(array) else array.astype(np.int64)


def _axes(inputs, index, attrs, opset, since):
    """An ``axes`` list given as an attribute before opset ``since``, as input ``index`` after."""
    if opset < since:
        return attrs.get("axes")
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in inputs[index].ravel()]
    return None


def _slice(inputs, attrs, opset):
    x = inputs[0]
    if opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = inputs[1].ravel(), inputs[2].ravel()
        axes = inputs[3].ravel() if len(inputs) > 3 and inputs[3] is not None else None
        steps = inputs[4].ravel() if len(inputs) > 4 and inputs[4] is not None else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        # int64 extremes mean "to the end"; Python's slice clamps them as ONNX says
        index[axis] = slice(int(start), int(end), step)
    return x[tuple(index)]


def _cast(x, to):
    from onnx import helper
    dtype = helper.tensor_dtype_to_np_dtype(to)
    if has_batch(x):
        if np.issubdtype(dtype, np.integer):
            return x
        raise NotFoldable("Cast of the batch size to a float")
    return x.astype(dtype)


def _reshape(x, shape, allowzero):
    shape = [int(d) for d in shape]
    if not allowzero:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _arith(fn):
    def run(inputs, attrs, opset):
        """The folded result of the arithmetic op."""
        a, b = inputs
        if has_batch(a) or has_batch(b):
            raise NotFoldable("arithmetic on the batch size")
        out = fn(a, b)
        if np.issubdtype(a.dtype, np.integer) and fn is np.divide:
            out = np.trunc(out).astype(a.dtype)  # ONNX integer Div truncates
        return out.astype(np.result_type(a, b)) if out.dtype != object else out
    return run


def _constant_of_shape(inputs, attrs, opset):
    from onnx import numpy_helper
    value = attrs.get("value")
    fill = numpy_helper.to_array(value).ravel() if value is not None else np.zeros(1, np.float32)
    shape = inputs[0].ravel()
    if has_batch(inputs[0]):
        raise NotFoldable("ConstantOfShape of a batch-sized shape")
    return np.full([int(d) for d in shape], fill[0], dtype=fill.dtype)


def _squeeze(inputs, attrs, opset):
    x, axes = inputs[0], _axes(inputs, 1, attrs, opset, 13)
    axes = tuple(i for i, d in enumerate(x.shape) if d == 1) if axes is None else tuple(axes)
    return np.squeeze(x, axis=axes)


def _unsqueeze(inputs, attrs, opset):
    x, axes = inputs[0], _axes(inputs, 1, attrs, opset, 13)
    rank = x.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = np.expand_dims(x, axis)
    return x


def _range(inputs, attrs, opset):
    start, limit, delta = (v.item() for v in inputs)
    return np.arange(start, limit, delta, dtype=inputs[0].dtype)


FOLDABLE = {
    "Identity": lambda i, a, o: i[0],
    "Cast": lambda i, a, o: _cast(i[0], a["to"]),
    "Gather": lambda i, a, o: np.take(i[0], _ints(i[1]).astype(np.int64), axis=a.get("axis", 0)),
    "Slice": lambda i, a, o: _slice(i, a, o),
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda i, a, o: np.concatenate(
        [v.astype(object) if any(has_batch(w) for w in i) else v for v in i], axis=a["axis"]),
    "ConstantOfShape": _constant_of_shape,
    "Reshape": lambda i, a, o: _reshape(i[0], i[1].ravel(), a.get("allowzero", 0)),
    "Flatten": lambda i, a, o: i[0].reshape(
        int(np.prod(i[0].shape[:a.get("axis", 1)])), -1),
    "Transpose": lambda i, a, o: np.transpose(i[0], a.get("perm")),
    "Add": _arith(np.add),
    "Sub": _arith(np.subtract),
    "Mul": _arith(np.multiply),
    "Div": _arith(np.divide),
    "Neg": lambda i, a, o: -i[0],
    "Sqrt": lambda i, a, o: np.sqrt(i[0]),
    "Range": _range,
    "Floor": lambda i, a, o: np.floor(i[0]),
    "Ceil": lambda i, a, o: np.ceil(i[0]),
}


def fold(op, inputs, attrs, opset):
    """The output array of ``op`` on constant ``inputs`` (None for an omitted optional input),
    or None when ``op`` is not one that folds."""
    if op not in FOLDABLE:
        return None
    # a shape with the batch sliced off is plain integers again (int64, as ONNX has it)
    inputs = [v.astype(np.int64) if v is not None and v.dtype == object and not has_batch(v)
              else v for v in inputs]
    return np.asarray(FOLDABLE[op](inputs, attrs, opset))


def shape_of(per_example):
    """The array Shape gives for a data tensor of per-example shape ``per_example``: the batch
    size (BATCH) first."""
    return np.array([BATCH] + [int(d) for d in per_example], dtype=object)
