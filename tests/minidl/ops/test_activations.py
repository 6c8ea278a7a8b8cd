"""Activations and softmax: values against formulas (and PyTorch), derivatives by gradcheck."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_cpu, to_device
from minidl.ops import activation, activations, softmax

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


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_apply_in_place_with_a_bias_and_the_gradient_from_the_output(device, name):
    """What conv2d and linear do with ``activation=``: f(z + b) written over z (b along the last
    axis, the channels of a channels-last block), then gz from y alone."""
    rng = np.random.default_rng(3)
    z, b, gy = X.reshape(2, 2, 2) * 0.5, rng.standard_normal(2), rng.standard_normal((2, 2, 2))
    zd = to_device(z.copy())  # (on the CPU to_device does not copy, and z must survive)
    y = activations.apply(zd, name, bias=to_device(b), out=zd)
    assert y is zd
    np.testing.assert_allclose(to_cpu(zd), FORMULAS[name](z + b), rtol=1e-12, atol=1e-12)
    t = Tensor(to_device(z + b), requires_grad=True)
    activation(t, name).backward(to_device(gy))
    gz = activations.gradient(zd, to_device(gy), name)
    np.testing.assert_allclose(to_cpu(gz), to_cpu(t.grad), rtol=1e-12, atol=1e-12)


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


# -- RELU6, HARDSIGMOID, SWISH, HARDSWISH (MobileNet's) -------------------------------------------
# Inputs on every piece of each, away from the kinks (0 and 6 for relu6, +-2.5 for hardsigmoid,
# +-3 for hardswish): relu6's clip at 6, hardswish's dip below zero between -3 and 0 included.
X_MOBILE = np.array([[-7.3, -3.4, -2.7, -1.1, -0.4, 0.6], [1.7, 2.2, 2.9, 3.6, 6.8, 9.1]])

MOBILE_FORMULAS = {
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "hardsigmoid": lambda x: np.minimum(1, np.maximum(0, 0.2 * x + 0.5)),  # DL4J's definition
    "swish": lambda x: x / (1 + np.exp(-x)),
    "hardswish": lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6,
}


@pytest.mark.parametrize("name", sorted(MOBILE_FORMULAS))
def test_mobile_activation_value_and_gradient(device, name):
    np.testing.assert_allclose(activation(on_device(X_MOBILE), name).numpy(),
                               MOBILE_FORMULAS[name](X_MOBILE), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x: activation(x, name), X_MOBILE)
    assert activation(on_device(X_MOBILE.astype(np.float32)), name).dtype == np.float32


def test_mobile_activations_by_dl4j_name():
    from minidl import Activation
    for member in (Activation.RELU6, Activation.SWISH, Activation.HARDSIGMOID,
                   Activation.HARDSWISH):
        assert Activation.parse(member.name.lower()) is member
        np.testing.assert_allclose(activation(Tensor(X_MOBILE), member.value).numpy(),
                                   MOBILE_FORMULAS[member.value](X_MOBILE), rtol=1e-12)


@pytest.mark.parametrize("name", ["relu6", "hardsigmoid"])
def test_relu6_and_hardsigmoid_derivatives_come_from_the_output(device, name):
    """They can be applied in place inside conv2d / linear, like relu."""
    assert activations.from_output(name)
    z = to_device(X_MOBILE.copy())
    y = activations.apply(z, name, out=z)
    gy = np.random.default_rng(4).standard_normal(X_MOBILE.shape)
    t = Tensor(to_device(X_MOBILE), requires_grad=True)
    activation(t, name).backward(to_device(gy))
    np.testing.assert_allclose(to_cpu(activations.gradient(y, to_device(gy), name)),
                               to_cpu(t.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["swish", "hardswish"])
def test_swish_derivatives_need_the_input(device, name):
    """swish(-0.5) and swish(-2.5) are both about -0.19, with slopes +0.26 and -0.10: y cannot
    give f'(z). The gradient is refused without z, and right with it (on the GPU too)."""
    assert not activations.from_output(name)
    z = to_device(X_MOBILE)
    y = activations.apply(z, name)
    gy = to_device(np.ones(X_MOBILE.shape))
    with pytest.raises(ValueError, match="needs the input z"):
        activations.gradient(y, gy, name)
    eps = 1e-6
    f = MOBILE_FORMULAS[name]
    numeric = (f(X_MOBILE + eps) - f(X_MOBILE - eps)) / (2 * eps)
    np.testing.assert_allclose(to_cpu(activations.gradient(y, gy, name, z=z)), numeric,
                               rtol=1e-7, atol=1e-8)


# -- the ActivationFunction object the ops hold ------------------------------------------------
PARAMETERS = {"leakyrelu": 0.2, "elu": 0.5}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_function_gradient_matches_central_differences(device, name):
    """gradient(y, gy), from y alone, is gy * f'(z) with f' by central differences of f."""
    f = activations.resolve(name, PARAMETERS.get(name))
    gy = np.random.default_rng(4).standard_normal(X.shape)
    y = f.apply(to_device(X))
    gz = to_cpu(f.gradient(y, to_device(gy)))
    eps = 1e-6
    slope = (to_cpu(f.apply(to_device(X + eps))) - to_cpu(f.apply(to_device(X - eps)))) / (2 * eps)
    np.testing.assert_allclose(gz, gy * slope, rtol=1e-7, atol=1e-9)


def test_resolve_gives_dl4j_defaults_and_an_immutable_value():
    assert activations.resolve("LeakyReLU") == activations.ActivationFunction("leakyrelu", 0.01)
    assert activations.resolve("ELU").alpha == 1.0 and activations.resolve("relu").alpha == 0.0
    assert activations.resolve("identity") == activations.IDENTITY
    with pytest.raises(AttributeError):
        activations.IDENTITY.name = "relu"
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        activations.resolve("swishy")


def test_identity_in_place_without_a_bias_does_nothing(device):
    z = to_device(X.copy())
    assert activations.IDENTITY.apply(z, out=z) is z
    np.testing.assert_array_equal(to_cpu(z), X)
    gy = to_device(X * 2)
    assert activations.IDENTITY.gradient(None, gy) is gy  # no saved output needed
    b = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(to_cpu(activations.IDENTITY.apply(z, to_device(b), out=z)), X + b)


def test_the_elementwise_op_holds_the_activation_function():
    y = activation(Tensor(X, requires_grad=True), "ELU", alpha=0.5)
    assert y.creator.activation == activations.ActivationFunction("elu", 0.5)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 8, 256, 256)])  # one thread / the threads
@pytest.mark.parametrize("name, alpha", [("relu", None), ("relu6", None), ("leakyrelu", 0.1)])
def test_apply_adds_the_bias_and_the_residual_before_the_activation(shape, name, alpha):
    rng = np.random.default_rng(5)
    z, residual = (rng.standard_normal(shape).astype(np.float32) * 4 for _ in range(2))
    residual = np.ascontiguousarray(residual.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    bias = rng.standard_normal(shape[-1]).astype(np.float32)
    f = activations.resolve(name, alpha)
    expected = f.apply((z + bias) + residual)
    out = np.full(shape, np.nan, np.float32)
    assert f.apply(z, bias, out=out, residual=residual) is out
    np.testing.assert_array_equal(out, expected)
    y = z.copy()  # in place
    np.testing.assert_array_equal(f.apply(y, bias, out=y, residual=residual), expected)
    np.testing.assert_array_equal(f.apply(z, residual=residual), f.apply(z + residual))
