"""linear: y = f(x @ W + b) with DL4J's W [n_in, n_out], f an optional activation."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_cpu, to_device
from minidl.ops import activation, linear


def test_value_and_gradients(device):
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    dx, dW, db = (to_device(a) for a in (x, W, b))
    np.testing.assert_allclose(linear(dx, dW, db).numpy(), x @ W + b)
    np.testing.assert_allclose(linear(dx, dW).numpy(), x @ W)
    assert gradcheck(linear, x, W, b)
    assert gradcheck(linear, x, W)


@pytest.mark.parametrize("name, alpha", [("relu", None), ("leakyrelu", 0.2), ("elu", 0.5),
                                         ("sigmoid", None), ("tanh", None), ("softsign", None)])
def test_activation_inside_the_op(device, name, alpha):
    """linear(..., activation=f) is f(linear(...)) forward, and differentiates through y alone
    (on the GPU the first five are one fused bias + activation kernel)."""
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    y = linear(to_device(x), to_device(W), to_device(b), activation=name, alpha=alpha)
    np.testing.assert_allclose(y.numpy(), activation(x @ W + b, name, alpha).numpy(), rtol=1e-12)
    assert gradcheck(lambda x, W, b: linear(x, W, b, activation=name, alpha=alpha), x, W, b)
    assert gradcheck(lambda x, W: linear(x, W, activation=name, alpha=alpha), x, W)


def test_frozen_input_gets_no_gradient_work(device):
    rng = np.random.default_rng(1)
    x = Tensor(to_device(rng.standard_normal((2, 3))))
    W = Tensor(to_device(rng.standard_normal((3, 2))), requires_grad=True)
    y = linear(x, W)
    assert y.creator.needs_input_grad == (False, True)
    y.sum().backward()
    assert x.grad is None and W.grad is not None


def test_bad_input():
    with pytest.raises(ValueError, match=r"linear: input has 4 features \(shape \(2, 4\)\).*n_in=3"):
        linear(np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"linear: expected a 2-d \[batch, n_in\] array.*\(2, 3, 4\)"):
        linear(np.zeros((2, 3, 4)), np.zeros((3, 5)))


def test_no_bias_is_a_zero_bias_with_one_gradient_fewer(device):
    from minidl.ops.activations import resolve
    from minidl.ops.linear import Linear
    rng = np.random.default_rng(3)
    x, W, gy = (to_device(rng.standard_normal(s)) for s in ((4, 3), (3, 5), (4, 5)))
    results = []
    for inputs in ((x, W), (x, W, to_device(np.zeros(5)))):
        fn = Linear(resolve("tanh"))
        y = fn(*(Tensor(a, requires_grad=True) for a in inputs))
        assert fn.has_bias == (len(inputs) == 3)
        results.append((y.numpy(), fn.backward(gy)))
    (y0, grads0), (y1, grads1) = results
    assert len(grads0) == 2 and len(grads1) == 3
    np.testing.assert_array_equal(y0, y1)
    for g0, g1 in zip(grads0, grads1):
        np.testing.assert_array_equal(to_cpu(g0), to_cpu(g1))
    gz = to_cpu(gy) * (1 - y1 ** 2)  # tanh' through y
    np.testing.assert_allclose(to_cpu(grads1[2]), gz.sum(axis=0), rtol=1e-12)
