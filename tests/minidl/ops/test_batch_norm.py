"""Batch normalization: batch statistics in training, running averages in inference."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_cpu, to_device
from minidl.ops import batch_norm


def _tensors(*arrays):
    """Each host array as a Tensor on the current device."""
    return [Tensor(to_device(a)) for a in arrays]


@pytest.mark.parametrize("shape, axes", [((6, 3), (0,)), ((2, 3, 4, 5), (0, 2, 3))])
def test_train_normalises_with_batch_stats_and_updates_running_averages(device, shape, axes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 2
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    running_mean, running_var = to_device(np.zeros(3)), to_device(np.ones(3))  # updated in place
    y = batch_norm(*_tensors(x, gamma, beta), running_mean, running_var, train=True, decay=0.9,
                   eps=1e-5).numpy()
    mean, var = to_cpu(running_mean), to_cpu(running_var)
    bshape = [1] * len(shape)
    bshape[1] = 3
    mu, sigma2 = x.mean(axis=axes), x.var(axis=axes)
    expected = (x - mu.reshape(bshape)) / np.sqrt(sigma2.reshape(bshape) + 1e-5)
    np.testing.assert_allclose(y, gamma.reshape(bshape) * expected + beta.reshape(bshape), rtol=1e-10)
    np.testing.assert_allclose(mean, 0.1 * mu)
    np.testing.assert_allclose(var, 0.9 + 0.1 * sigma2)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 3, 2)])
def test_train_gradcheck(device, shape):
    rng = np.random.default_rng(1)
    x, gamma, beta = rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)

    def f(x, gamma, beta):
        return batch_norm(x, gamma, beta, to_device(np.zeros(3)), to_device(np.ones(3)), train=True)
    assert gradcheck(f, x, gamma, beta)


def test_inference_uses_running_stats_and_matches_torch(device):
    rng = np.random.default_rng(2)
    x, gamma, beta = rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    stats = to_device(mean), to_device(var)
    y = batch_norm(*_tensors(x, gamma, beta), *stats, train=False).numpy()
    b = (1, 3, 1, 1)
    expected = (x - mean.reshape(b)) / np.sqrt(var.reshape(b) + 1e-5) * gamma.reshape(b) + beta.reshape(b)
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    np.testing.assert_allclose(batch_norm(*_tensors(x[:1], gamma, beta), *stats, False).numpy(),
                               y[:1])  # an example's output does not depend on its batch
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.batch_norm(torch.tensor(x), torch.tensor(mean), torch.tensor(var),
                                         torch.tensor(gamma), torch.tensor(beta), training=False, eps=1e-5)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-10)


def test_inference_takes_a_plain_array_as_well_as_a_tensor(device):
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal(3)
    stats = to_device(rng.standard_normal(3)), to_device(rng.uniform(0.5, 2, 3))
    from_tensor = batch_norm(*_tensors(x, gamma, beta), *stats, train=False).numpy()
    from_array = batch_norm(to_device(x), *_tensors(gamma, beta), *stats, train=False).numpy()
    np.testing.assert_array_equal(from_array, from_tensor)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"batch_norm: expected \[batch, features\].*\(2, 3, 4\)"):
        batch_norm(Tensor(np.zeros((2, 3, 4))), Tensor(np.ones(3)), Tensor(np.zeros(3)),
                   np.zeros(3), np.ones(3), train=True)
