"""Losses with DL4J's convention (sum over outputs, mean over the batch): values, gradients."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl import ops
from minidl.backend import to_cpu, to_device

rng = np.random.default_rng(0)
N, K = 4, 3
LOGITS = rng.standard_normal((N, K))
ONE_HOT = np.eye(K)[[0, 2, 1, 2]]
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
TARGETS = rng.standard_normal((N, K))
BINARY = (rng.uniform(size=(N, K)) > 0.5).astype(float)
SIGMOID = 1 / (1 + np.exp(-LOGITS))


@pytest.mark.parametrize("loss, output, labels, expected", [
    (ops.mse, LOGITS, TARGETS, ((LOGITS - TARGETS) ** 2).sum() / K / N),
    (ops.mae, LOGITS, TARGETS, np.abs(LOGITS - TARGETS).sum() / K / N),
    (ops.l2, LOGITS, TARGETS, ((LOGITS - TARGETS) ** 2).sum() / N),
    (ops.binary_cross_entropy, SIGMOID, BINARY,
     -(BINARY * np.log(SIGMOID) + (1 - BINARY) * np.log(1 - SIGMOID)).sum() / N),
    (ops.cross_entropy, PROBS, ONE_HOT, -(ONE_HOT * np.log(PROBS)).sum() / N),
    (ops.softmax_cross_entropy, LOGITS, ONE_HOT, -(ONE_HOT * np.log(PROBS)).sum() / N),
])
def test_loss_value_and_gradient(device, loss, output, labels, expected):
    assert loss(to_device(output), to_device(labels)).item() == pytest.approx(expected, rel=1e-10)
    assert gradcheck(loss, output, labels, wrt=[0])


def test_fused_softmax_cross_entropy_equals_softmax_then_cross_entropy(device):
    z1, z2 = (Tensor(to_device(LOGITS), requires_grad=True) for _ in range(2))
    labels = to_device(ONE_HOT)
    fused = ops.softmax_cross_entropy(z1, labels)
    chained = ops.cross_entropy(ops.softmax(z2), labels)
    fused.backward()
    chained.backward()
    assert fused.item() == pytest.approx(chained.item(), rel=1e-12)
    g1, g2 = to_cpu(z1.grad), to_cpu(z2.grad)
    np.testing.assert_allclose(g1, g2, rtol=1e-9)
    np.testing.assert_allclose(g1, (PROBS - ONE_HOT) / N, rtol=1e-12)  # the textbook form


def test_fused_softmax_cross_entropy_is_stable_for_huge_logits(device):
    z = Tensor(to_device(np.array([[1000.0, 0.0], [0.0, 1000.0]])), requires_grad=True)
    loss = ops.softmax_cross_entropy(z, to_device(np.array([[0.0, 1.0], [0.0, 1.0]])))
    loss.backward()
    assert loss.item() == pytest.approx(500.0)
    assert np.isfinite(to_cpu(z.grad)).all()


def test_losses_match_torch(device):
    torch = pytest.importorskip("torch")
    F, t, d = torch.nn.functional, torch.tensor, to_device
    assert ops.softmax_cross_entropy(d(LOGITS), d(ONE_HOT)).item() == pytest.approx(
        F.cross_entropy(t(LOGITS), t(ONE_HOT.argmax(1))).item(), rel=1e-12)
    # DL4J's MSE is torch's mean over every element (sum / K / N)
    assert ops.mse(d(LOGITS), d(TARGETS)).item() == pytest.approx(
        F.mse_loss(t(LOGITS), t(TARGETS)).item(), rel=1e-12)
    assert ops.binary_cross_entropy(d(SIGMOID), d(BINARY)).item() == pytest.approx(
        K * F.binary_cross_entropy(t(SIGMOID), t(BINARY)).item(), rel=1e-10)


def test_float32_loss_stays_float32_and_mismatch_is_reported(device):
    output, labels = (to_device(a.astype(np.float32)) for a in (LOGITS, TARGETS))
    assert ops.mse(output, labels).dtype == np.float32
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: labels of shape \(4, 2\) do not match .*\(4, 3\)"):
        ops.softmax_cross_entropy(LOGITS, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"mse: expected a floating-point array for the labels"):
        ops.mse(LOGITS, np.zeros((4, 3), dtype=int))
