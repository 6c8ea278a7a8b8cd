"""How the parameter-free vertices and the input preprocessors are written as ONNX nodes.

Same signature as ``onnx_layers``: ``write(w, name, vertex, xs, params, shapes)`` -> the
output tensor's name.
"""

import numpy as np

from minidl.modelexport.onnx_layers import activation
from minidl.nn.conf.preprocessors import (CnnToFeedForwardPreProcessor,
                                          FeedForwardToCnnPreProcessor)
from minidl.nn.conf.vertices import Op


def merge(w, name, vertex, xs, params, shapes):
    """MergeVertex: Concat along axis 1."""
    return xs[0] if len(xs) == 1 else w.node("Concat", xs, name=name, axis=1)


def _chain(w, name, op, xs):
    y = xs[0]
    for i, x in enumerate(xs[1:]):
        y = w.node(op, [y, x], name=name if i == len(xs) - 2 else f"{name}/{op.lower()}_{i}")
    return y


def element_wise(w, name, vertex, xs, params, shapes):
    """ElementWiseVertex: Add / Sub / Mul chains, Mean, Max."""
    op = vertex.op
    if op == Op.Subtract:
        return w.node("Sub", xs, name=name)
    if op in (Op.Product, Op.Add):  # binary ops, chained for more inputs
        return _chain(w, name, "Mul" if op == Op.Product else "Add", xs)
    return w.node({Op.Average: "Mean", Op.Max: "Max"}[op], xs, name=name)


def subset(w, name, vertex, xs, params, shapes):
    """SubsetVertex: Slice of axis 1 (DL4J's bounds are inclusive)."""
    consts = [w.const(f"{name}/{k}", np.array([v], np.int64)) for k, v in
              (("starts", vertex.from_index), ("ends", vertex.to_index + 1), ("axes", 1))]
    return w.node("Slice", [xs[0]] + consts, name=name)


def preprocess(w, name, preprocessor, x, shape):
    """The nodes of an InputPreProcessor (a layer's, or a PreprocessorVertex's)."""
    if isinstance(preprocessor, CnnToFeedForwardPreProcessor):
        return w.node("Flatten", [x], name=name, axis=1)
    if isinstance(preprocessor, FeedForwardToCnnPreProcessor):
        target = [-1, preprocessor.num_channels, preprocessor.input_height,
                  preprocessor.input_width]
        return w.node("Reshape", [x, w.const(f"{name}/shape", np.array(target, np.int64))],
                      name=name)
    w.fail(name, f"preprocessor {type(preprocessor).__name__} has no ONNX form here")


def preprocessor_vertex(w, name, vertex, xs, params, shapes):
    """PreprocessorVertex: its preprocessor's nodes."""
    return preprocess(w, name, vertex.preprocessor, xs[0], shapes[0])


def transpose(w, name, vertex, xs, params, shapes):
    """TransposeVertex: Transpose with the batch axis first."""
    return w.node("Transpose", xs, name=name,
                  perm=[0] + [p + 1 for p in vertex.perm])


def reshape(w, name, vertex, xs, params, shapes):
    """ReshapeVertex: Reshape to [batch, *shape]."""
    target = np.array([0] + list(vertex.shape), np.int64)  # 0: keep the batch size
    return w.node("Reshape", [xs[0], w.const(f"{name}/shape", target)], name=name)


def broadcast(w, name, vertex, xs, params, shapes):
    """BroadcastVertex: the ONNX op, ranks aligned after the batch axis first."""
    a, b = xs
    rank_a, rank_b = len(shapes[0]), len(shapes[1])
    if rank_a != rank_b:  # ours aligns the per-example axes after the batch; ONNX from the end
        short = 0 if rank_a < rank_b else 1
        pad = abs(rank_a - rank_b)
        axes = w.const(f"{name}/axes", np.arange(1, 1 + pad, dtype=np.int64))
        expanded = w.node("Unsqueeze", [xs[short], axes], name=f"{name}/unsqueeze")
        a, b = (expanded, b) if short == 0 else (a, expanded)
    return w.node(vertex.op.capitalize(), [a, b], name=name)


def clip(w, name, vertex, xs, params, shapes):
    """ClipVertex: Clip with constant bounds."""
    bounds = [w.const(f"{name}/{k}", np.float32(v)) if v is not None else ""
              for k, v in (("min", vertex.min_value), ("max", vertex.max_value))]
    while bounds and bounds[-1] == "":
        bounds.pop()
    return w.node("Clip", [xs[0]] + bounds, name=name)


def scaled_activation(w, name, vertex, xs, params, shapes):
    """ScaledActivationVertex: the activation with its parameters."""
    if vertex.activation == "hardsigmoid":
        return w.node("HardSigmoid", xs, name=name, alpha=float(vertex.alpha),
                      beta=float(vertex.beta))
    if vertex.activation in ("leakyrelu", "elu"):
        op = "LeakyRelu" if vertex.activation == "leakyrelu" else "Elu"
        return w.node(op, xs, name=name, alpha=float(vertex.alpha))
    return activation(w, name, xs[0], vertex.activation, shapes[0])
