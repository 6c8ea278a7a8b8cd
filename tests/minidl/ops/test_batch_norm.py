"""Batch normalization: batch statistics in training, running averages in inference. Every test
runs on both CPU paths of the training-mode fast path: numba's compiled loops and NumPy's."""

import importlib

import numpy as np
import pytest

from minidl import Tensor, gradcheck, no_grad
from minidl.backend import to_cpu, to_device
from minidl.ops import batch_norm

# The module (``minidl.ops.batch_norm`` as an attribute is the function of the same name).
bn_module = importlib.import_module("minidl.ops.batch_norm")

pytestmark = pytest.mark.usefixtures("loops")  # conftest


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


def _train_step(x, gamma, beta, gy):
    """y, gx, g_gamma, g_beta of a training-mode batch norm on host arrays."""
    tx, tg, tb = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = batch_norm(tx, tg, tb, np.zeros(x.shape[1]), np.ones(x.shape[1]), train=True)
    y.backward(gy)
    return y.numpy(), tx.grad, tg.grad, tb.grad


def _channels_last(a):
    """The same NCHW values with the channels last in memory, as a convolution leaves them."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 10, 2, 2)])
def test_train_fast_path_is_the_plain_formula(monkeypatch, shape):
    """A channels-last x takes the sliced fast path (``BatchNormTrain._rows_forward``), an
    NCHW-contiguous one the plain formulas: the same y and gradients, with many slices and
    sum blocks (or rows shared out among the threads), and the result and gradient in the
    channels-last layout."""
    monkeypatch.setattr(bn_module, "SLICE_SIZE", 7)  # slices of one row when < C
    monkeypatch.setattr(bn_module, "SUM_BLOCK", 11)
    monkeypatch.setattr(bn_module._parallel, "PARALLEL_SIZE", 1)  # compiled: rows on threads
    rng = np.random.default_rng(10)
    x, gy = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    x_l = _channels_last(x)
    assert bn_module._channel_rows(x_l) is not None and bn_module._channel_rows(x) is None
    fast = _train_step(x_l, gamma, beta, _channels_last(gy))
    plain = _train_step(x, gamma, beta, gy)
    for got, expected in zip(fast, plain):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)
    assert fast[0].strides == x_l.strides and fast[1].strides == x_l.strides


def test_train_in_float32_matches_torch():
    """A MobileNetV2-sized channel count, channels-last as in a network, against PyTorch's
    BatchNorm2d in training mode (its CPU kernel sums in float64 too)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    shape = (4, 96, 14, 14)
    x = _channels_last((rng.standard_normal(shape) * 2 + 3).astype(np.float32))
    gy = _channels_last(rng.standard_normal(shape).astype(np.float32))
    gamma = rng.uniform(0.5, 1.5, 96).astype(np.float32)
    beta = rng.standard_normal(96).astype(np.float32)
    y, gx, g_gamma, g_beta = _train_step(x, gamma, beta, gy)
    assert y.dtype == gx.dtype == g_gamma.dtype == np.float32
    norm = torch.nn.BatchNorm2d(96, eps=1e-5).train()
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma))
        norm.bias.copy_(torch.from_numpy(beta))
    X = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    Y = norm(X)
    Y.backward(torch.from_numpy(np.ascontiguousarray(gy)))
    np.testing.assert_allclose(y, Y.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, X.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(g_gamma, norm.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(g_beta, norm.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


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


# -- inference without gradients: the fused pass (``scale_shift``) ---------------------------
def _inference_both_ways(x, gamma, beta, mean, var):
    """(y by the fused pass under no_grad, y by the Tensor formula with gradients on)."""
    with no_grad():
        fused = batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mean, var, train=False)
    graph = batch_norm(Tensor(x), Tensor(gamma, requires_grad=True), Tensor(beta), mean, var,
                       train=False)
    return fused, graph


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "features"])
def test_inference_without_gradients_is_the_formula_in_one_pass(monkeypatch, layout):
    rng = np.random.default_rng(4)
    shape = (3, 5) if layout == "features" else (3, 5, 4, 6)
    x = rng.standard_normal(shape).astype(np.float32)
    if layout == "channels_last":  # as conv2d leaves it: NCHW shape, NHWC memory
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    gamma, beta, mean = (rng.standard_normal(5).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, 5).astype(np.float32)
    monkeypatch.setattr(bn_module, "SLICE_SIZE", 7)  # many slices (of one row when < C)
    fused, graph = _inference_both_ways(x, gamma, beta, mean, var)
    assert fused.creator is None and graph.creator is not None
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused.numpy(), graph.numpy())  # the same float operations
    assert fused.data.strides == x.strides  # the input's memory layout, kept


def test_inference_fused_pass_on_the_device_matches_the_formula(device):
    rng = np.random.default_rng(5)
    x, gamma, beta, mean = (rng.standard_normal(s) for s in ((2, 3, 4, 4), 3, 3, 3))
    var = rng.uniform(0.5, 2, 3)
    fused, graph = _inference_both_ways(to_device(x), *(to_device(a) for a in
                                                        (gamma, beta, mean, var)))
    np.testing.assert_allclose(to_cpu(fused.data), to_cpu(graph.data), rtol=1e-12)


def test_inference_with_a_trainable_gamma_still_builds_the_graph():
    rng = np.random.default_rng(6)
    x, gamma, beta = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal(3), np.zeros(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    tx = Tensor(x, requires_grad=True)
    tg = Tensor(gamma, requires_grad=True)
    batch_norm(tx, tg, Tensor(beta), mean, var, train=False).sum().backward()
    inv_std = 1 / np.sqrt(var + 1e-5)  # d/dx of gamma * (x - mean) * inv_std + beta
    np.testing.assert_allclose(tx.grad, np.broadcast_to((gamma * inv_std).reshape(1, 3, 1, 1),
                                                        x.shape), rtol=1e-12)
    np.testing.assert_allclose(tg.grad, ((x - mean.reshape(1, 3, 1, 1)) * inv_std.reshape(
        1, 3, 1, 1)).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_train_statistics_of_float32_far_from_zero(loops, monkeypatch):
    """Activations of mean 1000 and std 0.01 (a one-pass sum of squares about 0 would lose every
    digit of the variance), the rows split over the threads: the batch mean and variance
    against float64's. The compiled pass sums in float64 about one row of x (the shifted-data
    variance); NumPy's path adds float32 block sums in float64."""
    monkeypatch.setattr(bn_module._parallel, "PARALLEL_SIZE", 1)
    rng = np.random.default_rng(12)
    shape = (4, 6, 9, 8)
    x = _channels_last((1000 + 0.01 * rng.standard_normal(shape)).astype(np.float32))
    fn = bn_module.BatchNormTrain(1e-8)
    fn.forward(x, np.ones(6, np.float32), np.zeros(6, np.float32))
    x64 = x.astype(np.float64)
    # NumPy: the mean off by 2e-7 of 1000 moves a variance of 1e-4 by up to 1e-3 of itself
    mean_rtol, var_rtol = (1e-13, 1e-9) if loops == "compiled" else (1e-6, 1e-2)
    np.testing.assert_allclose(fn.mean, x64.mean(axis=(0, 2, 3)), rtol=mean_rtol)
    np.testing.assert_allclose(fn.var, x64.var(axis=(0, 2, 3)), rtol=var_rtol)
