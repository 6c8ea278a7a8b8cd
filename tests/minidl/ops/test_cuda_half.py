"""The float16 instantiations of the CUDA kernels (common.cuh's half16): stored in half,
computed in float, rounded once when written.

The truth for each is the float32 kernel (itself checked against the CPU ops in
test_cuda_kernels.py) run on the same half-precision numbers widened to float32, its result
rounded to float16: the same operations in the same order, so the two agree to the bit. A kernel
that summed in half (rounding every partial sum to 11 bits) would not.
"""

import numpy as np
import pytest

from minidl.ops import cuda
from minidl.ops.window import Window

from test_cuda_kernels import emulator, host, xp  # noqa: F401 (fixtures)

HALF = np.float16


def half_random(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(HALF)


def both(xp, f, *arrays):
    """(f on the float16 arrays, f on them widened to float32 and its result rounded to half)."""
    got = f(*[xp.asarray(a) for a in arrays])
    want = f(*[xp.asarray(a.astype(np.float32)) for a in arrays])
    return host(got), host(want).astype(HALF)


def window_for(shape, kernel=(3, 3), stride=(1, 1), padding=(1, 1)):
    return Window("t", shape, kernel, stride, padding, (1, 1), "truncate")


def test_im2col_copies_half_numbers(xp):
    window = window_for((2, 5, 7, 6))
    x_l = half_random((2, 9, 8, 5))  # padded channels-last
    got, want = both(xp, lambda a: cuda.im2col(window, a), x_l)
    assert got.dtype == HALF
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_in_half(xp, pool):
    window = window_for((2, 4, 7, 6), kernel=(2, 2), stride=(2, 2), padding=(0, 0))
    x_l = half_random((2, 7, 6, 4))
    if pool == "max":
        got, want = both(xp, lambda a: cuda.max_pool_forward(window, a, False)[0], x_l)
    else:
        got, want = both(xp, lambda a: cuda.avg_pool_forward(window, a), x_l)
    np.testing.assert_array_equal(got, want)


def test_depthwise_sums_in_float(xp):
    window = window_for((2, 6, 9, 8))
    x_l, W = half_random((2, 9, 8, 6), 1, 10.0), half_random((3, 3, 6, 2), 2)
    got, want = both(xp, lambda a, w: cuda.depthwise_forward(window, a, w), x_l, W)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "relu6", "swish", "leakyrelu"])
def test_bias_activation_in_half(xp, name):
    z, b = half_random((6, 10), 3, 4.0), half_random(10, 4)
    got, want = both(xp, lambda a, c: cuda.bias_activation_forward(a, c, name, 0.01), z, b)
    np.testing.assert_array_equal(got, want)


def test_softmax_in_half(xp):
    z = half_random((5, 37), 5, 3.0)
    got, want = both(xp, cuda.softmax, z)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got.astype(np.float64).sum(axis=1), 1.0, atol=1e-2)


@pytest.mark.parametrize("call", [
    lambda xp: cuda.col2im(window_for((1, 2, 4, 4)), xp.zeros((1, 4, 4, 3, 3, 2), HALF)),
    lambda xp: cuda.bias_activation_backward(xp.zeros((2, 3), HALF), xp.zeros((2, 3), HALF),
                                             "relu"),
])
def test_training_kernels_refuse_half(xp, call):
    with pytest.raises(TypeError, match="float16 only for inference"):
        call(xp)
