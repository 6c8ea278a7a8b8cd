"""DropoutLayer (minidl/nn/layers/dropout.py): identity in inference, inverted dropout in training.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np

from minidl import DropoutLayer, InputType

from .helpers import ready, run


def test_dropout_layer_is_identity_in_inference_and_inverted_dropout_in_training(device):
    layer = ready(DropoutLayer(dropout=0.75), InputType.feed_forward(1000))
    x = np.ones((4, 1000))
    np.testing.assert_array_equal(run(layer, x, {}).numpy(), x)
    out = run(layer, x, {}, train=True).numpy()
    values = set(np.unique(out).round(12))
    assert values == {0.0, round(1 / 0.75, 12)}  # kept units scaled by 1/p (p = retain prob)
    assert abs((out > 0).mean() - 0.75) < 0.03
