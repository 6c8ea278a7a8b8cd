"""The vertices for ONNX-only ops: forward against NumPy, gradients against finite differences,
output types, and a save / load of the configuration."""

import numpy as np
import pytest

from minidl import InputType, Tensor, serde
from minidl.autograd import gradcheck
from minidl.nn.conf.onnx_vertices import (BroadcastVertex, ClipVertex, ReshapeVertex,
                                          ScaledActivationVertex, TransposeVertex)

RNG = np.random.default_rng(5)


def _run(vertex, *xs):
    return vertex.forward([x if isinstance(x, Tensor) else Tensor(x) for x in xs], None)


def test_transpose_keeps_the_batch_first():
    x = RNG.normal(size=(2, 5, 4, 3))  # NHWC
    vertex = TransposeVertex((2, 0, 1))
    np.testing.assert_array_equal(_run(vertex, x).data, x.transpose(0, 3, 1, 2))
    assert vertex.output_type([InputType.convolutional(4, 3, 5)]) == \
        InputType.convolutional(5, 4, 3)
    gradcheck(lambda t: _run(vertex, t), x)


def test_reshape_infers_minus_one_and_refuses_a_misfit():
    x = RNG.normal(size=(3, 4, 2, 2))
    vertex = ReshapeVertex((-1, 2))
    np.testing.assert_array_equal(_run(vertex, x).data, x.reshape(3, 8, 2))
    assert ReshapeVertex((16,)).output_type([InputType.convolutional(2, 2, 4)]) == \
        InputType.feed_forward(16)
    with pytest.raises(ValueError, match=r"cannot reshape an input of shape \(3, 4, 2, 2\)"):
        _run(ReshapeVertex((5,)), x)


@pytest.mark.parametrize("op,fn", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                   ("div", np.divide), ("max", np.maximum),
                                   ("min", np.minimum)])
def test_broadcast_ops(op, fn):
    a, b = RNG.uniform(0.5, 2, (2, 3, 4, 4)), RNG.uniform(0.5, 2, (2, 3, 1, 1))
    np.testing.assert_allclose(_run(BroadcastVertex(op), a, b).data, fn(a, b), rtol=1e-12)
    gradcheck(lambda s, t: _run(BroadcastVertex(op), s, t), a, b)


def test_broadcast_aligns_the_ranks_after_the_batch():
    a, b = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 4))  # b is [batch, 4]
    np.testing.assert_allclose(_run(BroadcastVertex("add"), a, b).data, a + b[:, None, :])


def test_clip_and_scaled_activations():
    x = RNG.normal(size=(2, 7)) * 3
    np.testing.assert_allclose(_run(ClipVertex(-0.5, 1.5), x).data, np.clip(x, -0.5, 1.5))
    np.testing.assert_allclose(_run(ClipVertex(max_value=1.0), x).data, np.minimum(x, 1.0))
    np.testing.assert_allclose(_run(ScaledActivationVertex("leakyrelu", 0.3), x).data,
                               np.where(x > 0, x, 0.3 * x))
    np.testing.assert_allclose(_run(ScaledActivationVertex("elu", 0.5), x).data,
                               np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0))))
    np.testing.assert_allclose(_run(ScaledActivationVertex("hardsigmoid", 1 / 6, 0.5), x).data,
                               np.clip(x / 6 + 0.5, 0, 1))
    x = x + 0.05  # away from the kinks for the finite differences
    gradcheck(lambda t: _run(ClipVertex(-0.5, 1.5), t), x)


def test_vertices_survive_json():
    for vertex in (TransposeVertex((1, 2, 0)), ReshapeVertex((4, -1)), BroadcastVertex("div"),
                   ClipVertex(0.0, 2.0), ScaledActivationVertex("elu", 0.25)):
        assert serde.from_json(serde.to_json(vertex)) == vertex
