"""BatchNormalization (minidl/nn/layers/normalization.py): batch statistics in training, running
ones in inference.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np

from minidl import BatchNormalization, InputType

from .helpers import device_params, ready, run

RNG = np.random.default_rng(0)


def test_batch_norm_training_uses_batch_statistics_and_updates_running_ones(device):
    layer = ready(BatchNormalization(decay=0.8, eps=1e-5), InputType.convolutional(3, 3, 2))
    params = device_params(layer, gamma=[2.0, 0.5], beta=[1.0, -1.0])
    x = RNG.normal(2.0, 3.0, size=(4, 2, 3, 3))
    out = run(layer, x, params, train=True).numpy()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    expected = expected * np.array([2.0, 0.5])[None, :, None, None] + \
        np.array([1.0, -1.0])[None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    np.testing.assert_allclose(params["mean"].numpy(), 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(params["var"].numpy(), 0.8 + 0.2 * var, rtol=1e-12)


def test_batch_norm_inference_uses_running_statistics(device):
    layer = ready(BatchNormalization(), InputType.feed_forward(3))
    params = device_params(layer, mean=[1.0, 2.0, 3.0], var=[4.0, 1.0, 0.25])
    x = RNG.normal(size=(5, 3))
    expected = (x - [1.0, 2.0, 3.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(run(layer, x, params).numpy(), expected, rtol=1e-10)
    assert layer.param_kind("mean") == "state" and layer.param_kind("gamma") == "weight"
