"""The kernel emulator keeps the GPU's rules: it refuses a launch that CuPy would run on garbage.

A CuPy kernel launch packs each argument by its NumPy type and the kernel reads it by its C type,
with no check between them; these tests make sure the emulator does check, so the kernel tests
that pass on it also prove that the wrappers in minidl.ops.cuda pass the right types.
"""

import numpy as np
import pytest

from emulated_gpu import fake_cupy
from emulated_gpu.kernels import GXX, Emulator

pytestmark = pytest.mark.skipif(GXX is None, reason="g++ is not installed")


@pytest.fixture(scope="module")
def forward(tmp_path_factory):
    """bias_activation_forward<float>(const float* z, const float* b, float* y, long long n,
    int n_out, int activation, float alpha), and arguments it accepts (device arrays)."""
    emulator = Emulator(str(tmp_path_factory.mktemp("cuda_emulator")))
    kernel = emulator.kernel("bias_activation.cu", "bias_activation_forward", np.float32)
    cp = fake_cupy.module
    z, b = cp.asarray([[-1.0, 2.0]], dtype=np.float32), cp.asarray([0.5, 0.5], dtype=np.float32)
    y = cp.empty_like(z)
    return kernel, [z, b, y, np.int64(z.size), np.int32(2), np.int32(1), np.float32(0.0)], y


def test_right_types_run(forward):
    kernel, args, y = forward
    kernel((1,), (1,), args)
    np.testing.assert_array_equal(y.get(), [[0.0, 2.5]])


@pytest.mark.parametrize("position, wrong, passed", [
    (3, np.int32(2), "ppp" + "i" + "iif"),            # an int32 size for long long n
    (4, np.int64(2), "ppp" + "x" + "x" + "if"),       # an int64 for int n_out
    (6, np.float64(0.0), "pppxiid"),                  # a double alpha for a float kernel
    (6, 0.0, "pppxii<float>"),                        # a Python float: CuPy's type is not ours
])
def test_a_scalar_of_the_wrong_type_is_refused(forward, position, wrong, passed):
    kernel, args, _ = forward
    args = list(args)
    args[position] = wrong
    with pytest.raises(AssertionError, match=f"takes parameters 'pppxiif', was given '{passed}'"):
        kernel((1,), (1,), args)


def test_a_missing_argument_is_refused(forward):
    kernel, args, _ = forward
    with pytest.raises(AssertionError, match="'pppxiif', was given 'pppxii'"):
        kernel((1,), (1,), args[:-1])


def test_an_array_of_the_wrong_float_type_is_refused(forward):
    kernel, args, _ = forward
    args = [args[0].astype(np.float64)] + list(args[1:])
    with pytest.raises(AssertionError, match="was given a float64 array"):
        kernel((1,), (1,), args)
