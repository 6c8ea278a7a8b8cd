"""gradcheck itself: it passes correct backwards and catches wrong ones."""

import numpy as np
import pytest

from minidl import Function, gradcheck
from minidl.autograd import numerical_grad
from minidl.autograd.tensor import Tensor
from minidl.backend import to_device


class Square(Function):
    def __init__(self, factor):
        self.factor = factor  # 2 is right; anything else is a planted bug

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.factor * self.x


def test_accepts_a_correct_backward(device):
    assert gradcheck(lambda x: Square(2.0)(x), np.random.default_rng(0).standard_normal((3, 2)))


def test_rejects_a_wrong_backward_naming_the_input(device):
    with pytest.raises(AssertionError, match=r"input 0 of shape \(3, 2\)"):
        gradcheck(lambda x: Square(2.001)(x), np.random.default_rng(0).standard_normal((3, 2)))


def test_numerical_grad_of_a_known_function(device):
    x = np.array([1.0, -2.0, 0.5])
    weight = np.ones(3)
    g = numerical_grad(lambda t: Tensor(t.data ** 3), [x], 0, weight)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)


def test_runs_in_float64_even_for_float32_inputs(device):
    seen = []

    def f(x):
        seen.append(x.dtype)
        return Square(2.0)(x)
    gradcheck(f, to_device(np.ones(2, np.float32)))  # a device input is taken too
    assert set(seen) == {np.dtype(np.float64)}
