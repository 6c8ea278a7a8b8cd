"""FrozenLayer and FrozenLayerWithBackprop (minidl/nn/layers/freezing.py): inference mode, no
graph or a gradient passed through, no updater.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from devices import host
from minidl import (Activation, DenseLayer, FrozenLayer, FrozenLayerWithBackprop, InputType,
                    OutputLayer, Tensor)
from minidl.backend import to_device
from minidl.nn.layers import Context, unwrap

from .helpers import device_params, host_params, ready

RNG = np.random.default_rng(0)


def test_frozen_layer_runs_in_inference_mode_without_a_graph(device):
    inner = ready(DenseLayer(n_out=3, dropout=0.5, activation=Activation.IDENTITY),
                   InputType.feed_forward(4))
    frozen = FrozenLayer(inner)
    params = {k: Tensor(v.data, requires_grad=True) for k, v in device_params(inner).items()}
    x = Tensor(to_device(RNG.normal(size=(2, 4))), requires_grad=True)
    out = frozen.forward(x, params, Context(train=True, rng=np.random.default_rng(0)))
    w, b = host_params(params)["W"], host_params(params)["b"]
    np.testing.assert_allclose(out.numpy(), x.numpy() @ w + b)  # no dropout
    assert out.creator is None and not out.requires_grad
    assert frozen.updater_for("W") is None and frozen.regularization_for("W") == []
    assert frozen.param_shapes() == inner.param_shapes() and frozen.n_out == 3


def test_frozen_layer_with_backprop_passes_the_gradient_through(device):
    inner = ready(DenseLayer(n_out=3, activation=Activation.IDENTITY), InputType.feed_forward(4))
    frozen = FrozenLayerWithBackprop(inner)
    params = device_params(inner)
    x = Tensor(to_device(RNG.normal(size=(2, 4))), requires_grad=True)
    frozen.forward(x, params, Context(train=True, rng=None)).sum().backward()
    np.testing.assert_allclose(host(x.grad), np.tile(host_params(params)["W"].sum(axis=1), (2, 1)))


def test_output_layers_cannot_be_frozen_without_backprop():
    with pytest.raises(ValueError, match="Output layers are not allowed to be frozen"):
        FrozenLayer(OutputLayer(name="out", n_in=2, n_out=2))
