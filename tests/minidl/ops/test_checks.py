"""The argument helpers shared by the ops: here, the bias gradient's sum over rows."""

import numpy as np
import pytest

from minidl.backend import to_cpu, to_device
from minidl.ops._checks import sum_rows, with_bias_gradient


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6, 7), (1, 1)])
def test_sum_rows_sums_every_axis_but_the_last(device, shape):
    a = np.random.default_rng(0).standard_normal(shape)
    got = to_cpu(sum_rows(to_device(a, device)))
    assert got.shape == shape[-1:]
    np.testing.assert_allclose(got, a.reshape(-1, shape[-1]).sum(axis=0), rtol=1e-12)


def test_bias_gradient_only_when_asked():
    gy = np.ones((4, 3))
    assert with_bias_gradient((True, True), "gx", "gW", gy) == ("gx", "gW")
    assert with_bias_gradient((True, True, False), "gx", "gW", gy) == ("gx", "gW", None)
    np.testing.assert_array_equal(with_bias_gradient((True, True, True), "gx", "gW", gy)[2],
                                  [4.0, 4.0, 4.0])
