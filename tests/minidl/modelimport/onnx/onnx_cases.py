"""Helpers for the ONNX import tests: a model from onnx.helper nodes, and the check that the
imported network equals onnxruntime on the same input (1e-4 relative)."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from minidl.modelimport import OnnxModelImport  # noqa: E402

RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def model(nodes, x_shape, inits=None, opset=17, output="y", batch="N"):
    """A ModelProto: input "x" of [batch, *x_shape[1:]], output ``output``, the initializers
    ``inits`` ({name: array})."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch] + list(x_shape[1:]))
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    tensors = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "test", [x], [y], initializer=tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def reference(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check(tmp_path, proto, x, name="m.onnx"):
    """Import ``proto`` (saved under tmp_path) and assert it equals onnxruntime on ``x``;
    returns the network."""
    path = tmp_path / name
    onnx.save(proto, str(path))
    expected = reference(path, x)
    net = OnnxModelImport.import_model(path)
    got = net.output_single(x)
    assert got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
    return net


def vertex_types(net):
    """{vertex name: class name} of the imported graph (frozen wrappers as they are)."""
    return {name: type(v).__name__ for name, v in net.conf.vertices.items()}
