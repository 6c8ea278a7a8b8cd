"""ActivationLayer (minidl/nn/layers/activation.py) against NumPy.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np

from minidl import Activation, ActivationLayer, InputType

from .helpers import ready, run

RNG = np.random.default_rng(0)


def test_activation_layer(device):
    layer = ready(ActivationLayer(activation=Activation.RELU), InputType.feed_forward(3))
    x = RNG.normal(size=(4, 3))
    np.testing.assert_array_equal(run(layer, x, {}).numpy(), np.maximum(x, 0))


def _keras_relu(z, max_value, slope, threshold):
    # Keras' ReLU layer, as its documentation writes it
    y = np.where(z >= threshold, z, slope * (z - threshold))
    return y if max_value is None else np.where(z >= max_value, max_value, y)


def test_relu_with_max_value_threshold_and_slope_is_keras_relu(device):
    layer = ready(ActivationLayer(activation=Activation.RELU, max_value=1.5, threshold=0.25,
                                  alpha=0.1), InputType.feed_forward(50))
    x = RNG.normal(size=(4, 50)) * 2
    np.testing.assert_allclose(run(layer, x, {}).numpy(), _keras_relu(x, 1.5, 0.1, 0.25))


def test_general_relu_gradient():
    from minidl import gradcheck
    from minidl.nn.layers import Context
    layer = ActivationLayer(activation=Activation.RELU, max_value=1.0, threshold=-0.5, alpha=0.2)
    x = RNG.uniform(-3, 3, size=(5, 6))
    x[np.abs(x - 1.0) < 0.05] += 0.1  # keep away from the kinks, where f' jumps
    x[np.abs(x + 0.5) < 0.05] += 0.1
    assert gradcheck(lambda t: layer.forward(t, {}, Context(train=False, rng=None)), x)


def test_alpha_is_the_leakyrelu_slope_and_the_elu_scale(device):
    x = RNG.normal(size=(3, 4))
    leaky = ready(ActivationLayer(activation=Activation.LEAKYRELU, alpha=0.3),
                  InputType.feed_forward(4))
    np.testing.assert_allclose(run(leaky, x, {}).numpy(), np.where(x > 0, x, 0.3 * x))
    elu = ready(ActivationLayer(activation=Activation.ELU, alpha=0.7), InputType.feed_forward(4))
    np.testing.assert_allclose(run(elu, x, {}).numpy(),
                               np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0))))
