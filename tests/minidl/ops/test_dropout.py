"""Dropout with DL4J's p = probability of retaining, inverted scaling."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_cpu, to_device
from minidl.ops import dropout


def test_retains_with_probability_p_and_scales_by_one_over_p(device):
    x = to_device(np.ones((200, 100)))
    y = dropout(x, 0.8, np.random.default_rng(0)).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(0.8, abs=0.01)  # p is the fraction *kept*
    np.testing.assert_allclose(y[kept], 1 / 0.8)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # expectation unchanged


def test_same_seed_same_mask_and_gradient_uses_the_mask(device):
    x = np.random.default_rng(1).standard_normal((3, 4))
    a = dropout(to_device(x), 0.5, np.random.default_rng(7)).numpy()
    b = dropout(to_device(x), 0.5, np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)
    t = Tensor(to_device(x), requires_grad=True)
    dropout(t, 0.5, np.random.default_rng(7)).sum().backward()
    np.testing.assert_allclose(to_cpu(t.grad), (a != 0) / 0.5)
    # gradcheck redraws the mask per call: a fresh generator with the same seed each time
    assert gradcheck(lambda x: dropout(x, 0.5, np.random.default_rng(7)), x)


def test_inference_and_p_one_are_the_identity_and_bad_p_raises():
    x = Tensor(np.ones(5))
    assert dropout(x, 0.5, np.random.default_rng(0), train=False) is x
    assert dropout(x, 1.0, np.random.default_rng(0)) is x
    with pytest.raises(ValueError, match="probability of retaining.*got 0"):
        dropout(x, 0.0, np.random.default_rng(0))
