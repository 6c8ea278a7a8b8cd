"""ONNX export: a ComputationGraph or MultiLayerNetwork (frozen or not) as an ONNX model that
onnxruntime serves with the same outputs.

The network's Wiring (the one picture of both network kinds) is walked in topological order;
each vertex (frozen ones unwrapped: freezing changes training, not what a vertex computes)
writes its nodes through the table ``WRITERS`` (``onnx_layers``, ``onnx_vertices``), a layer's
input preprocessor first and its inputs concatenated along axis 1 when it has several, as the
engine runs them. The ONNX graph takes [batch, *input shape] with a dynamic batch; tensor and
node names come from the vertex names. One forward pass of a single zero example gives every
activation's shape (for the padding of "Same" mode layers). A layer or vertex outside the
table is an error naming it.
"""

import numpy as np

from minidl.autograd import Tensor
from minidl.backend import to_cpu
from minidl.modelexport import onnx_layers as L
from minidl.modelexport import onnx_vertices as V
from minidl.nn.freezing import thawed
from minidl.nn.layers import Layer, unwrap

OPSETS = range(11, 19)

WRITERS = {
    "ConvolutionLayer": L.convolution, "GroupedConvolution2D": L.grouped_convolution,
    "DepthwiseConvolution2D": L.depthwise, "SeparableConvolution2D": L.separable,
    "DenseLayer": L.dense, "OutputLayer": L.dense, "LossLayer": L.loss_layer,
    "BatchNormalization": L.batch_norm, "SubsamplingLayer": L.subsampling,
    "GlobalPoolingLayer": L.global_pooling, "ZeroPaddingLayer": L.zero_padding,
    "ActivationLayer": L.activation_layer, "DropoutLayer": L.passthrough,
    "ConstantArithmeticLayer": L.constant_arithmetic,
    "MergeVertex": V.merge, "ElementWiseVertex": V.element_wise, "SubsetVertex": V.subset,
    "PreprocessorVertex": V.preprocessor_vertex, "TransposeVertex": V.transpose,
    "ReshapeVertex": V.reshape, "BroadcastVertex": V.broadcast, "ClipVertex": V.clip,
    "ScaledActivationVertex": V.scaled_activation,
}


class OnnxWriter:
    """Collects nodes and initializers; ``node`` and ``const`` return tensor names."""

    def __init__(self, opset):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset, self.nodes, self.initializers = opset, [], []
        self._names = set()

    def _unique(self, base):
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, name, array):
        """Add initializer ``array`` (floats as float32) under ``name``; its tensor name."""
        name = self._unique(name)
        array = np.asarray(to_cpu(array))
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attrs):
        """Add an ``op`` node named ``name`` (made unique); its output tensor has its name."""
        name = self._unique(name)
        self.nodes.append(self.helper.make_node(op, list(inputs), [name], name=name, **attrs))
        return name

    def fail(self, name, message):
        """Raise ValueError about vertex ``name``."""
        raise ValueError(f"ONNX export: vertex {name!r}: {message}")


def _input_shape(net, input_shape):
    if input_shape is not None:
        return tuple(int(d) for d in input_shape)
    name = net.wiring.inputs[0]
    input_type = net.vertex_types().get(name)
    if input_type is None:
        raise ValueError(f"ONNX export: the network declares no input type for {name!r}; pass "
                         f"input_shape=(channels, height, width) (per example)")
    return tuple(input_type.shape())


def _shapes(net, shape):
    """{input or vertex name: per-example shape of its activation}, from one zero example."""
    wiring = net.wiring
    names = list(wiring.inputs) + list(wiring.vertices)
    x = np.zeros((1,) + shape, dtype=net.dtype)
    return {n: tuple(a.shape[1:]) for n, a in zip(names, net.activations_at(names, [x]))}


def _vertex_inputs(w, net, name, tensors, shapes):
    """(ONNX input tensors, their per-example shapes) of vertex ``name``: a layer's inputs
    concatenated and preprocessed as the engine does."""
    wiring = net.wiring
    sources = wiring.vertex_inputs[name]
    xs, in_shapes = [tensors[s] for s in sources], [shapes[s] for s in sources]
    if not isinstance(wiring.vertices[name], Layer):  # vertices read their inputs as they are
        return xs, in_shapes
    if len(xs) > 1:
        xs = [w.node("Concat", xs, name=f"{name}/merge_inputs", axis=1)]
        in_shapes = [(sum(s[0] for s in in_shapes),) + in_shapes[0][1:]]
    preprocessor = wiring.preprocessors.get(name)
    if preprocessor is not None:
        xs = [V.preprocess(w, name, preprocessor, xs[0], in_shapes[0])]
        out = preprocessor.pre_process(Tensor(np.zeros((1,) + in_shapes[0], np.float32)))
        in_shapes = [tuple(out.shape[1:])]
    return xs, in_shapes


def _write_vertex(w, net, name, tensors, shapes):
    vertex = net.wiring.vertices[name]
    inner = unwrap(thawed(vertex))
    writer = WRITERS.get(type(inner).__name__)
    if writer is None:
        w.fail(net.display_name(name), f"{type(inner).__name__} has no ONNX form; exportable: "
                                       f"{', '.join(sorted(WRITERS))}")
    xs, in_shapes = _vertex_inputs(w, net, name, tensors, shapes)
    params = {k: to_cpu(t.data) for k, t in (net.param_tables.get(name) or {}).items()}
    return writer(w, name, inner, xs, params, in_shapes)


def build_model(net, opset=17, input_shape=None):
    """The ModelProto of ``net`` (see the module docstring)."""
    from onnx import TensorProto, checker, helper
    if opset not in OPSETS:
        raise ValueError(f"ONNX export: opset {opset} is not supported; choose "
                         f"{OPSETS.start} to {OPSETS.stop - 1}")
    wiring = net.wiring
    if len(wiring.inputs) != 1:
        raise ValueError(f"ONNX export: the network has {len(wiring.inputs)} inputs "
                         f"{wiring.inputs}; only networks with one input are exported")
    shape = _input_shape(net, input_shape)
    shapes, w = _shapes(net, shape), OnnxWriter(opset)
    tensors = {wiring.inputs[0]: w._unique(wiring.inputs[0])}
    for name in wiring.order:
        if name not in wiring.inputs:
            tensors[name] = _write_vertex(w, net, name, tensors, shapes)
    outputs = []
    for name in wiring.outputs:
        out = tensors[name]
        if out != str(net.display_name(name)):  # e.g. "fc/softmax": name it after the vertex
            out = w._unique(f"{net.display_name(name)}/output")
            w.nodes.append(helper.make_node("Identity", [tensors[name]], [out], name=out))
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                     ["batch"] + list(shapes[name])))
    graph = helper.make_graph(w.nodes, "minidl", [helper.make_tensor_value_info(
        tensors[wiring.inputs[0]], TensorProto.FLOAT, ["batch"] + list(shape))], outputs,
        initializer=w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="minidl", ir_version=8)
    checker.check_model(model)
    return model


def export_model(net, path, opset=17, input_shape=None):
    """Write ``net`` to the ONNX file ``path`` (atomically); returns ``path``."""
    from minidl.io.atomic import atomic_write
    from minidl.io.optional import require
    require("onnx", "exporting ONNX models")  # one clear error, before any work
    model = build_model(net, opset, input_shape)
    with atomic_write(path) as f:
        f.write(model.SerializeToString())
    return path
