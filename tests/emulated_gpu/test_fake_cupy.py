"""fake_cupy keeps CuPy's rules, so a test that passes on it has no host/device mix-up."""

import numpy as np
import pytest

from emulated_gpu import fake_cupy

cp = fake_cupy.module


@pytest.fixture
def a():
    return cp.asarray(np.arange(6.0).reshape(2, 3))


def test_device_arrays_refuse_implicit_conversion_to_numpy(a):
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    np.testing.assert_array_equal(a.get(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("mix", [lambda a: a + np.ones(3), lambda a: np.ones(3) * a,
                                 lambda a: cp.maximum(a, np.zeros(3)),
                                 lambda a: cp.ascontiguousarray(np.ones(3))])
def test_host_arrays_do_not_mix_with_device_arrays(a, mix):
    with pytest.raises(TypeError, match="Unsupported type"):
        mix(a)


def test_numpy_functions_dispatch_to_the_device(a):
    for result in (np.exp(a), np.float32(2) * a, a.T, cp.maximum(a, 0), np.concatenate([a, a])):
        assert isinstance(result, cp.ndarray)


def test_reductions_and_scalar_indices_stay_on_the_device(a):
    total, corner = a.sum(), a[0, 0]
    assert isinstance(total, cp.ndarray) and total.ndim == 0 and float(total) == 15.0
    assert isinstance(corner, cp.ndarray) and f"{corner:.1f}" == "0.0"


def test_a_scalar_index_is_a_view_as_in_cupy(a):
    corner = a[0, 1]
    a[0, 1] = 7.0
    assert float(corner) == 7.0  # NumPy's a[0, 1] would be a copy, still 1.0


def test_only_cupy_names_exist(a):
    with pytest.raises(AttributeError, match="nditer"):
        cp.nditer
    with pytest.raises(AttributeError, match="ctypes"):
        a.ctypes
    assert cp.float32 is np.float32  # dtypes are NumPy's, as in CuPy


def test_in_place_updates_reach_the_data(a):
    b = a
    b += 1
    assert cp.maximum(a, 0, out=a) is a and np.add(a, 0, out=a) is a  # out= returns out
    cp.add.at(a, (0, 1), 5.0)
    a[1] = np.zeros(3)  # a host value is copied over, as CuPy does
    np.testing.assert_array_equal(a.get(), [[1, 7, 3], [0, 0, 0]])
