"""The import, node by node: an ONNX ModelProto becomes a ComputationGraph of DL4J layers.

1. Read the file (``reading``), check the opset (11 to 18 of the default domain).
2. Seed the constants: initializers that are not graph inputs, Constant nodes.
3. The one data input, with its declared shape (NHWC stays NHWC: the network takes what the
   ONNX model takes); its batch axis may be dynamic, nothing else.
4. Shape inference (``onnx.shape_inference``) on a copy without the weights, for the
   per-example shape of every data value.
5. Each node in order: folded when its inputs are constants (``folding``), a Shape of data
   gives its static dimensions and the batch symbol, the rest goes to its converter
   (``layer_ops``, ``activation_ops``, ``tensor_ops``), which adds vertices.
6. The graph outputs are made real; the configuration is built and the weights go in
   without random initialisation.
"""

import numpy as np

from minidl.modelimport.onnx import activation_ops, layer_ops, tensor_ops
from minidl.modelimport.onnx.building import build_network
from minidl.modelimport.onnx.folding import FOLDABLE, NotFoldable, fold, shape_of
from minidl.modelimport.onnx.graph import GraphState, OnnxImportError, Value
from minidl.modelimport.onnx.reading import load_model

OPSETS = range(11, 19)

CONVERTERS = {
    "Conv": layer_ops.conv, "BatchNormalization": layer_ops.batch_norm,
    "Gemm": layer_ops.gemm, "MatMul": layer_ops.matmul,
    "MaxPool": layer_ops.max_pool, "AveragePool": layer_ops.average_pool,
    "GlobalAveragePool": layer_ops.global_average_pool,
    "GlobalMaxPool": layer_ops.global_max_pool,
    "ReduceMean": layer_ops.reduce_mean, "ReduceMax": layer_ops.reduce_max,
    **activation_ops.CONVERTERS, **tensor_ops.CONVERTERS,
}


def supported_ops():
    """Every op type the importer reads, sorted."""
    return sorted(set(CONVERTERS) | set(FOLDABLE) | {"Constant", "Shape"})


def import_file(path):
    """The ComputationGraph of the ONNX file ``path`` (see the module docstring)."""
    model, external = load_model(path)
    opset = _opset(model, path)
    constants = _constants(model.graph, external)
    model = _without_weights(model)
    graph = model.graph
    data_inputs = [i for i in graph.input if i.name not in constants]
    g = GraphState(str(path), opset, _inferred_shapes(model, constants), _readers(graph),
                   [o.name for o in graph.output])
    g.values.update({name: Value(name=name, const=array) for name, array in constants.items()})
    _add_input(g, data_inputs, path)
    for node in graph.node:
        _convert(g, node)
    return build_network(g, graph)


def _opset(model, path):
    versions = {o.domain: o.version for o in model.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None or opset not in OPSETS:
        raise OnnxImportError(f"{path}: the model uses opset {opset} of the default ONNX "
                              f"domain; supported: {OPSETS.start} to {OPSETS.stop - 1} "
                              f"(onnx.version_converter.convert_version can convert it)")
    return opset


def _constants(graph, external):
    """{initializer name: array}. An initializer that is also a graph input is, since IR 4,
    only a default a caller may override; exporters that list every weight as an input
    (keep_initializers_as_inputs) still mean weights, so all of them are constants here."""
    return {t.name: external[t.name] if t.name in external else _take_array(t)
            for t in graph.initializer}


def _without_weights(model):
    """A copy of ``model`` whose initializers are emptied (``_take_array`` did that), so that the
    original, whose protobuf arena still holds every weight's bytes, can be freed."""
    from onnx import ModelProto
    lean = ModelProto()
    lean.CopyFrom(model)
    return lean


def _take_array(tensor):
    """The tensor's values as a writable array of their own, the tensor's bytes freed: the
    weights live once in memory, not once in the protobuf and once in NumPy."""
    from onnx import numpy_helper
    array = numpy_helper.to_array(tensor)
    if not array.flags.writeable or not array.flags.aligned:
        array = array.copy()
    tensor.ClearField("raw_data")
    return array


def _readers(graph):
    """{value name: number of nodes that read it (Shape nodes aside) + graph outputs}."""
    readers = {}
    for node in graph.node:
        if node.op_type == "Shape":
            continue
        for name in node.input:
            if name:
                readers[name] = readers.get(name, 0) + 1
    for output in graph.output:
        readers[output.name] = readers.get(output.name, 0) + 1
    return readers


def _dims(value_info):
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _inferred_shapes(model, constants):
    """{value name: full shape list (None for unknown dims)} from ONNX shape inference, run on
    a copy of the graph whose weights are declared as inputs (shapes only, no bytes)."""
    from onnx import helper, numpy_helper, shape_inference
    graph = model.graph
    small = [numpy_helper.from_array(a, n) for n, a in constants.items()
             if a.size <= 64 and a.dtype.kind in "iu"]
    small_names = {t.name for t in small}
    declared = {i.name for i in graph.input}
    weights = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype),
                                             a.shape)
               for n, a in constants.items() if n not in small_names and n not in declared]
    inputs = [i for i in graph.input if i.name not in small_names]
    skeleton = helper.make_graph(graph.node, graph.name, inputs + weights, graph.output,
                                 initializer=small)
    model_copy = helper.make_model(skeleton, opset_imports=model.opset_import,
                                   ir_version=model.ir_version)
    try:
        inferred = shape_inference.infer_shapes(model_copy, data_prop=True).graph
    except Exception:  # inference is a help, not a requirement: the converters say what lacks
        inferred = model_copy.graph
    return {v.name: _dims(v) for v in list(inferred.value_info) + list(inferred.input)
            + list(inferred.output) if v.type.tensor_type.HasField("shape")}


def _add_input(g, data_inputs, path):
    if len(data_inputs) != 1:
        names = [i.name for i in data_inputs]
        raise OnnxImportError(f"{path}: the model has {len(names)} data inputs {names}; "
                              f"minidl imports models with exactly one")
    value_info = data_inputs[0]
    dims = _dims(value_info)
    if not dims or any(d is None for d in dims[1:]):
        raise OnnxImportError(f"{path}: input {value_info.name!r} has dynamic sizes "
                              f"{[d if d is not None else '?' for d in dims]}; only the batch "
                              f"axis may be dynamic (layers need fixed spatial sizes)")
    name = g.unique(value_info.name)
    g.inputs.append(name)
    g.declared_batch, g.input_shape = dims[0], tuple(dims[1:])
    g.values[value_info.name] = Value(name=value_info.name, shape=tuple(dims[1:]), vertex=name)


def _attributes(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _convert(g, node):
    if node.domain not in ("", "ai.onnx"):
        g.fail(node, f"op domain {node.domain!r} is not supported (only the default domain)")
    inputs = [g.values.get(name) if name else None for name in node.input]
    missing = [name for name, v in zip(node.input, inputs) if name and v is None]
    if missing:
        g.fail(node, f"reads {missing}, which no earlier node, input or initializer defines "
                     f"(the nodes must be in topological order)")
    attrs = _attributes(node)
    if _fold(g, node, inputs, attrs):
        return
    converter = CONVERTERS.get(node.op_type)
    if converter is None and node.op_type in FOLDABLE:
        g.fail(node, f"op {node.op_type!r} is supported on constants only (shape arithmetic "
                     f"folded at import), not on data computed at run time")
    if converter is None:
        g.fail(node, f"op {node.op_type!r} is not supported; supported ops: "
                     f"{', '.join(supported_ops())}")
    converter(g, node, inputs, attrs)


def _fold(g, node, inputs, attrs):
    """Fold ``node`` to constants when its result does not depend on the data; whether it
    did."""
    if node.op_type == "Constant":
        return _set_const(g, node, _constant_value(attrs))
    if node.op_type == "Shape":
        x = inputs[0]
        full = np.asarray(x.const.shape) if x.is_const else shape_of(x.shape)
        return _set_const(g, node, full[attrs.get("start", 0):attrs.get("end", len(full))])
    given = [v for v in inputs if v is not None]
    if not given or not all(v.is_const for v in given) or node.op_type not in FOLDABLE:
        return False
    try:
        result = fold(node.op_type, [v.const if v is not None else None for v in inputs],
                      attrs, g.opset)
    except NotFoldable as e:
        g.fail(node, f"cannot be computed at import time: {e}")
    return _set_const(g, node, result)


def _set_const(g, node, array):
    g.values[node.output[0]] = Value(name=node.output[0], const=np.asarray(array))
    return True


def _constant_value(attrs):
    from onnx import numpy_helper
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise OnnxImportError(f"Constant node with attributes {sorted(attrs)}: only value, "
                          f"value_float(s) and value_int(s) are supported")
