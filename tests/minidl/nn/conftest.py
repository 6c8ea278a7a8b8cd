"""Helpers shared by the network tests: data sets and a whole-network gradient check."""

import numpy as np
import pytest

from devices import host
from minidl import DataSet


def two_spirals(n_per_class=100, noise=0.1, seed=0):
    """Two interleaved spirals in 2-d: a classic problem no linear model solves."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise / 3, (2 * n_per_class, 2))
    y = np.repeat(np.eye(2), n_per_class, axis=0)
    return DataSet(x.astype(np.float32), y.astype(np.float32))


def bars(n=64, size=8, seed=0):
    """8x8 images, one channel: a horizontal bar (class 0) or a vertical bar (class 1) + noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    positions = rng.integers(1, size - 1, n)
    for i, (label, pos) in enumerate(zip(labels, positions)):
        if label == 0:
            x[i, 0, pos, :] += 1.0
        else:
            x[i, 0, :, pos] += 1.0
    return DataSet(x, np.eye(2, dtype=np.float32)[labels])


def numerical_gradients(net, data, eps=1e-6):
    """{param key: d score / d param} by central differences on the training-mode score.

    The parameters are nudged where they live (host or device); the gradients are NumPy arrays.
    """
    grads = {}
    for key, array in net.param_table(backprop_params_only=True).items():
        grad = np.zeros(array.shape, array.dtype)
        for i in np.ndindex(array.shape):
            original = float(array[i])  # a copy: CuPy's array[i] is a 0-d view
            array[i] = original + eps
            plus = net.score(data, training=True)
            array[i] = original - eps
            minus = net.score(data, training=True)
            array[i] = original
            grad[i] = (plus - minus) / (2 * eps)
        grads[key] = grad
    return grads


def assert_network_gradients(net, data, rtol=1e-5, atol=1e-8):
    """The network's backprop gradient equals the numerical one for every trainable parameter."""
    analytic, _ = net.compute_gradient_and_score(data)
    numeric = numerical_gradients(net, data)
    assert sorted(analytic) == sorted(numeric)
    for key in numeric:
        np.testing.assert_allclose(host(analytic[key]), numeric[key], rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {key}")


@pytest.fixture
def helpers():
    """The helpers above, as a fixture so that tests in sub-folders reach them too."""
    import types
    return types.SimpleNamespace(two_spirals=two_spirals, bars=bars,
                                 numerical_gradients=numerical_gradients,
                                 assert_network_gradients=assert_network_gradients)
