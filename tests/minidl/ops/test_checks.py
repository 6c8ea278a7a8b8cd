"""The argument helpers shared by the ops: here, the optional bias gradient."""

import numpy as np

from minidl.ops._checks import with_bias_gradient


def test_bias_gradient_only_for_an_op_with_a_bias_and_only_when_asked():
    gy = np.ones((4, 3))
    assert with_bias_gradient(False, (True, True), "gx", "gW", gy) == ("gx", "gW")
    assert with_bias_gradient(True, (True, True, False), "gx", "gW", gy) == ("gx", "gW", None)
    np.testing.assert_array_equal(with_bias_gradient(True, (True, True, True), "gx", "gW", gy)[2],
                                  [4.0, 4.0, 4.0])
