"""Activations and softmax: values against formulas (and PyTorch), derivatives by gradcheck."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_device
from minidl.ops import activation, softmax

# Inputs kept away from the kinks (0 for relu-likes, +-1 for hardtanh) where the numerical
# derivative is undefined.
X = np.array([[-2.5, -1.3, -0.7, -0.2], [0.3, 0.8, 1.4, 3.0]])

FORMULAS = {
    "identity": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leakyrelu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "hardtanh": lambda x: np.clip(x, -1, 1),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def on_device(x):
    """``x`` as a Tensor on the current device."""
    return Tensor(to_device(x))


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_value_and_gradient(device, name):
    np.testing.assert_allclose(activation(on_device(X), name).numpy(), FORMULAS[name](X),
                               rtol=1e-12, atol=1e-12)
    if name != "identity":
        assert gradcheck(lambda x: activation(x, name), X)


def test_activation_parameters_and_names(device):
    x = on_device(X)
    np.testing.assert_allclose(activation(x, "LeakyReLU", alpha=0.2).numpy(), np.where(X > 0, X, 0.2 * X))
    np.testing.assert_allclose(activation(x, "ELU", alpha=0.5).numpy(), np.where(X > 0, X, 0.5 * np.expm1(X)))
    assert gradcheck(lambda x: activation(x, "elu", alpha=0.5), X)
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        activation(x, "swishy")


def test_activations_preserve_float32(device):
    for name in FORMULAS:
        assert activation(on_device(X.astype(np.float32)), name).dtype == np.float32, name


def test_softmax_value_gradient_and_stability(device):
    e = np.exp(X - X.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax(on_device(X)).numpy(), e / e.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    assert gradcheck(softmax, X)
    big = softmax(on_device(np.array([[1000.0, 0.0], [-1000.0, -1000.0]]))).numpy()
    np.testing.assert_allclose(big, [[1.0, 0.0], [0.5, 0.5]])
    assert activation(on_device(X), "softmax").numpy().sum(axis=1) == pytest.approx([1.0, 1.0])


def test_softmax_matches_torch(device):
    torch = pytest.importorskip("torch")
    expected = torch.softmax(torch.tensor(X), dim=1).numpy()
    np.testing.assert_allclose(softmax(on_device(X)).numpy(), expected, rtol=1e-12)
