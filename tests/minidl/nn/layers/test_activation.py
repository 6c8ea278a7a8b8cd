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
