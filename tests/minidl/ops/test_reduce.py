"""Sums over axes (minidl/ops/_reduce.py) against NumPy's, for every layout they take."""

import numpy as np
import pytest

from minidl.backend import to_cpu, to_device
from minidl.ops._reduce import AxisError, sum_over, sum_rows


def _nchw_view_of_channels_last(a, device):
    """``a`` [N, C, H, W] as a conv output holds it: NHWC memory seen as NCHW."""
    return to_device(np.ascontiguousarray(a.transpose(0, 2, 3, 1)), device).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes", [(0, 2, 3), (0,), (2, 3), (1,), (1, 3), (0, 2), (0, 1, 2, 3), ()])
def test_sum_over_matches_numpy_in_every_layout(device, axes, keepdims):
    a = np.random.default_rng(0).standard_normal((3, 5, 4, 6))
    expected = a.sum(axis=axes, keepdims=keepdims)
    wider = to_device(np.pad(a, ((0, 0), (0, 0), (0, 0), (0, 2))), device)
    for layout in (to_device(a, device), _nchw_view_of_channels_last(a, device),
                   wider[..., :6]):  # contiguous NCHW, NHWC memory seen as NCHW, a slice
        got = to_cpu(sum_over(layout, axes, keepdims))
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_sum_over_integers_and_float32(device):
    ints = np.arange(24).reshape(4, 6)
    np.testing.assert_array_equal(to_cpu(sum_over(to_device(ints, device), (0,))),
                                  ints.sum(axis=0))
    a = np.random.default_rng(1).standard_normal((50, 7)).astype(np.float32)
    got = sum_over(to_device(a, device), (0,))
    assert got.dtype == np.float32
    np.testing.assert_allclose(to_cpu(got), a.astype(np.float64).sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6, 7), (1, 1), (4,)])
def test_sum_rows_sums_every_axis_but_the_last(device, shape):
    a = np.random.default_rng(0).standard_normal(shape)
    got = to_cpu(sum_rows(to_device(a, device)))
    assert got.shape == shape[-1:]
    np.testing.assert_allclose(got, a.reshape(-1, shape[-1]).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("shape, axes", [((0, 3), (0,)), ((3, 0), (0,)), ((4, 1, 5), (0, 2)),
                                         ((1, 6, 1), (0,)), ((2, 3, 1, 4), (0, 2, 3))])
def test_sum_over_empty_and_unit_axes(device, shape, axes):
    a = np.random.default_rng(2).standard_normal(shape)
    for keepdims in (False, True):
        got = to_cpu(sum_over(to_device(a, device), axes, keepdims))
        np.testing.assert_allclose(got, a.sum(axis=axes, keepdims=keepdims), atol=1e-12)


def test_axes_are_read_as_numpy_reads_them(device):
    a = np.random.default_rng(3).standard_normal((2, 3, 4))
    on_device = to_device(a, device)
    for axes in [(-1,), (0, -1), np.int64(1), (np.int32(-3), 2), 1]:
        np.testing.assert_allclose(to_cpu(sum_over(on_device, axes)), a.sum(axis=axes),
                                   rtol=1e-12)
    with pytest.raises(AxisError):
        sum_over(on_device, (3,))
    with pytest.raises(AxisError):
        sum_over(on_device, -4)
    with pytest.raises(ValueError, match="repeated axis"):
        sum_over(on_device, (1, -2))
