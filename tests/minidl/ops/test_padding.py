"""zero_pad2d: forward against a hand-written border and np.pad, backward against numerical
gradients, asymmetric padding, every DL4J form of the padding, and bad arguments."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.backend import to_cpu, to_device
from minidl.ops import conv2d, zero_pad2d
from minidl.ops.padding import padding4


def test_asymmetric_padding_by_hand(device):
    x = to_device(np.arange(1.0, 7.0).reshape(1, 1, 2, 3))  # [[1, 2, 3], [4, 5, 6]]
    y = zero_pad2d(x, (1, 0, 0, 2)).numpy()  # one row on top, two columns on the right
    np.testing.assert_array_equal(y[0, 0], [[0, 0, 0, 0, 0],
                                            [1, 2, 3, 0, 0],
                                            [4, 5, 6, 0, 0]])


@pytest.mark.parametrize("padding", [(3, 3, 3, 3), (0, 1, 0, 1), (2, 0, 1, 3), (0, 0, 0, 0)])
def test_matches_np_pad_and_gradient_is_the_interior(device, padding):
    top, bottom, left, right = padding
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    t = Tensor(to_device(x), requires_grad=True)
    y = zero_pad2d(t, padding)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, ((0, 0), (0, 0), (top, bottom),
                                                        (left, right))))
    gy = rng.standard_normal(y.shape)
    y.backward(to_device(gy))
    np.testing.assert_array_equal(to_cpu(t.grad), gy[:, :, top:top + 4, left:left + 5])


def test_gradcheck_float64(device):
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 4))
    assert gradcheck(lambda x: zero_pad2d(x, (1, 2, 0, 1)), x)


def test_pad_then_valid_conv_equals_a_padded_conv(device):
    # ResNet50's stem: ZeroPadding2D(3) then a valid 7x7 conv is the conv with padding 3; the
    # channels-last output of the pad feeds the conv as it is.
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal((1, 3, 9, 8)), rng.standard_normal((4, 3, 7, 7))
    padded = conv2d(zero_pad2d(to_device(x), 3), to_device(W), stride=2).numpy()
    np.testing.assert_allclose(padded, conv2d(to_device(x), to_device(W), stride=2,
                                              padding=3).numpy(), rtol=1e-12)


@pytest.mark.parametrize("given, expected", [(2, (2, 2, 2, 2)), ((1, 3), (1, 1, 3, 3)),
                                             ([1, 2, 3, 4], (1, 2, 3, 4)), (np.int64(1), (1,) * 4)])
def test_dl4j_forms_of_the_padding(given, expected):
    assert padding4(given) == expected


@pytest.mark.parametrize("bad", [(1, 2, 3), (-1, 0, 0, 0), ()])
def test_bad_padding_is_refused(bad):
    with pytest.raises(ValueError, match=r"padding must be one, two \(vertical, horizontal\) or "
                                         r"four \(top, bottom, left, right\) non-negative ints"):
        padding4(bad)


def test_bad_inputs_name_the_op():
    with pytest.raises(ValueError, match=r"zero_pad2d: expected a 4-d \[batch, channels, height, "
                                         r"width\] array for the input, got shape \(3, 4\)"):
        zero_pad2d(np.zeros((3, 4)), 1)
    with pytest.raises(ValueError, match="zero_pad2d: expected a floating-point array"):
        zero_pad2d(np.zeros((1, 1, 2, 2), np.int32), 1)
