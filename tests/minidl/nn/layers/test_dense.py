"""DenseLayer (minidl/nn/layers/dense.py) against a hand (loop) computation, its shapes and bad
input.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from minidl import Activation, DenseLayer, InputType

from .helpers import device_params, host_params, ready, run

RNG = np.random.default_rng(0)


def test_dense_is_activation_of_x_w_plus_b(device):
    layer = ready(DenseLayer(n_out=3, activation=Activation.TANH), InputType.feed_forward(4))
    params = device_params(layer, b=[0.5, -1.0, 2.0])
    x = RNG.normal(size=(5, 4))
    w, b = host_params(params)["W"], host_params(params)["b"]
    expected = np.tanh(np.array([[sum(x[n, i] * w[i, j] for i in range(4)) + b[j]
                                  for j in range(3)] for n in range(5)]))
    np.testing.assert_allclose(run(layer, x, params).numpy(), expected, rtol=1e-12)
    assert layer.param_shapes() == {"W": (4, 3), "b": (3,)}


def test_dense_without_bias_has_no_b():
    layer = ready(DenseLayer(n_out=3, has_bias=False), InputType.feed_forward(2))
    assert layer.param_shapes() == {"W": (2, 3)}


def test_dense_wrong_input_width_names_the_layer():
    layer = ready(DenseLayer(name="fc", n_out=3), InputType.feed_forward(4))
    with pytest.raises(ValueError, match=r"layer 'fc' \(DenseLayer\): expected input \[batch, 4\], "
                                         r"got shape \(2, 5\)"):
        run(layer, np.zeros((2, 5)), device_params(layer))
    with pytest.raises(ValueError, match=r"layer 'fc' \(DenseLayer\): expected input \[batch, 4\]"):
        run(layer, np.zeros((2, 1, 2, 2)), device_params(layer))


def test_dense_layers_train_with_activations_that_need_their_input():
    """Swish's derivative needs z, not y: the layer applies it after the op, and the gradient
    is the float64 numerical one."""
    from minidl import gradcheck, Tensor
    from minidl.nn.layers import Context
    layer = ready(DenseLayer(n_out=3, activation=Activation.SWISH), InputType.feed_forward(4))
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    ctx = Context(train=False, rng=None)
    assert gradcheck(lambda x, w, c: layer.forward(x, {"W": w, "b": c}, ctx),
                     rng.standard_normal((5, 4)), W, b)
