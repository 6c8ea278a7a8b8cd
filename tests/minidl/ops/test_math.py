"""Elementary ops: backward against numerical gradients, broadcasting, errors."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl import ops
from minidl.backend import to_cpu, to_device
from minidl.ops._reduce import AxisError

rng = np.random.default_rng(0)


@pytest.mark.parametrize("op", [ops.add, ops.sub, ops.mul, ops.div])
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((3, 4), ()),
])
def test_binary_ops_with_broadcasting(device, op, a_shape, b_shape):
    a = rng.standard_normal(a_shape)
    b = rng.uniform(0.5, 2.0, b_shape)  # away from 0 for div
    expected = {ops.add: a + b, ops.sub: a - b, ops.mul: a * b, ops.div: a / b}[op]
    np.testing.assert_allclose(op(to_device(a), to_device(b)).numpy(), expected)
    assert gradcheck(op, a, b)


def test_scalar_operands_keep_float32(device):
    x = Tensor(to_device(np.ones(3, np.float32)), requires_grad=True)
    y = 2.0 * x + 1 - x / 4
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(to_cpu(x.grad), np.full(3, 1.75))


@pytest.mark.parametrize("f", [
    lambda x: ops.neg(x), lambda x: ops.power(x, 3), lambda x: ops.exp(x),
    lambda x: ops.log(ops.mul(x, x) + 1.0),
])
def test_unary_ops(device, f):
    assert gradcheck(f, rng.standard_normal((3, 4)))


@pytest.mark.parametrize("a_shape, b_shape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 2))])
def test_matmul(device, a_shape, b_shape):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    np.testing.assert_allclose(ops.matmul(to_device(a), to_device(b)).numpy(), a @ b)
    assert gradcheck(ops.matmul, a, b)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, False)])
def test_reductions(device, axis, keepdims):
    x = rng.standard_normal((2, 3, 4))
    d = to_device(x)
    np.testing.assert_allclose(ops.sum(d, axis, keepdims).numpy(), x.sum(axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(ops.mean(d, axis, keepdims).numpy(), x.mean(axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(ops.max(d, axis, keepdims).numpy(), x.max(axis=axis, keepdims=keepdims))
    assert gradcheck(lambda x: ops.sum(x, axis, keepdims), x)
    assert gradcheck(lambda x: ops.mean(x, axis, keepdims), x)
    assert gradcheck(lambda x: ops.max(x, axis, keepdims), x)


def test_max_tie_gradient_goes_to_first_maximum(device):
    x = Tensor(to_device(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])), requires_grad=True)
    ops.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(to_cpu(x.grad), [[0, 1, 0], [1, 0, 0]])


def _max_gradient(x, axis, keepdims=False):
    t = Tensor(to_device(x), requires_grad=True)
    ops.max(t, axis, keepdims).sum().backward()
    return to_cpu(t.grad)


@pytest.mark.parametrize("keepdims", [False, True])
def test_max_ties_over_several_axes_give_the_gradient_to_the_first_maximum(device, keepdims):
    """Global max pooling (axes 2 and 3): one element per (n, c) gets gy, the first in C order."""
    x = np.zeros((2, 2, 3, 3))
    x[0, 0] = 1.0  # all tied: the first element, (0, 0)
    x[0, 1, 1, 2] = x[0, 1, 2, 0] = 5.0  # row 1 comes before row 2
    x[1, 0, 2, 1] = x[1, 0, 2, 2] = 3.0  # same row: column 1 first
    x[1, 1] = -1.0
    x[1, 1, 0, 2] = x[1, 1, 1, 0] = x[1, 1, 2, 2] = 0.5
    expected = np.zeros_like(x)
    for n, c, i, j in [(0, 0, 0, 0), (0, 1, 1, 2), (1, 0, 2, 1), (1, 1, 0, 2)]:
        expected[n, c, i, j] = 1.0
    np.testing.assert_array_equal(_max_gradient(x, (2, 3), keepdims), expected)
    np.testing.assert_array_equal(_max_gradient(x, (-1, 2), keepdims), expected)  # any order
    np.testing.assert_array_equal(_max_gradient(np.ones((2, 3, 4, 5)), (2, 3))[:, :, 0, 0],
                                  np.ones((2, 3)))
    assert _max_gradient(np.ones((2, 3, 4, 5)), (2, 3)).sum() == 6


def test_max_ties_over_all_axes_give_the_gradient_to_the_first_maximum(device):
    x = np.zeros((2, 3, 4))
    x[0, 2, 1] = x[1, 0, 0] = x[1, 2, 3] = 7.0
    expected = np.zeros_like(x)
    expected[0, 2, 1] = 1.0
    np.testing.assert_array_equal(_max_gradient(x, None), expected)
    np.testing.assert_array_equal(_max_gradient(x, (0, 1, 2)), expected)
    np.testing.assert_array_equal(_max_gradient(np.array(4.0), None), 1.0)  # a 0-d array


@pytest.mark.parametrize("axis", [None, 1, (2, 3), (0, 3), (-3, -1)])
def test_max_matches_torch_without_ties(device, axis):
    torch = pytest.importorskip("torch")
    x = rng.permutation(120).reshape(2, 3, 4, 5).astype(np.float64)  # all distinct: no ties
    gy = rng.standard_normal(np.max(x, axis=axis).shape)
    t = Tensor(to_device(x), requires_grad=True)
    y = ops.max(t, axis)
    y.backward(to_device(gy))
    X = torch.tensor(x, requires_grad=True)
    dims = tuple(range(4)) if axis is None else axis
    Y = torch.amax(X, dim=dims)
    Y.backward(torch.tensor(gy))
    np.testing.assert_array_equal(y.numpy(), Y.detach().numpy())
    np.testing.assert_array_equal(to_cpu(t.grad), X.grad.numpy())


def test_shape_ops(device):
    x = rng.standard_normal((2, 3, 4))
    assert gradcheck(lambda x: ops.reshape(x, (6, 4)), x)
    assert gradcheck(lambda x: ops.transpose(x, (2, 0, 1)), x)
    assert gradcheck(lambda x: ops.transpose(x), x)
    assert gradcheck(lambda x: ops.broadcast_to(ops.reshape(x, (2, 3, 4, 1)), (2, 3, 4, 5)), x)
    assert gradcheck(lambda x: ops.get_item(x, (slice(None), [0, 2, 0], slice(1, 3))), x)
    assert gradcheck(lambda x: ops.flatten(x), x)
    np.testing.assert_array_equal(ops.flatten(to_device(x)).numpy(), x.reshape(2, 12))


def test_get_item_repeated_index_sums_gradient(device):
    x = Tensor(to_device(np.arange(4.0)), requires_grad=True)
    ops.get_item(x, [1, 1, 3]).sum().backward()
    np.testing.assert_array_equal(to_cpu(x.grad), [0, 2, 0, 1])


def test_concat(device):
    a, b = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 1, 2))
    np.testing.assert_array_equal(ops.concat([to_device(a), to_device(b)], axis=1).numpy(),
                                  np.concatenate([a, b], 1))
    assert gradcheck(lambda a, b: ops.concat([a, b], axis=1), a, b)
    with pytest.raises(ValueError, match=r"concat: shapes \(2, 3, 2\), \(3, 1, 2\) differ"):
        ops.concat([to_device(a), to_device(np.zeros((3, 1, 2)))], axis=1)


def test_bad_inputs_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        ops.add(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        ops.matmul(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: expected a floating-point array.*int64"):
        ops.matmul(np.zeros((2, 3), dtype=np.int64), np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape an array of shape \(2, 3\)"):
        ops.reshape(np.zeros((2, 3)), (4, 2))


def test_sum_reads_axes_as_numpy_does(device):
    x = np.arange(6.0).reshape(2, 3)
    t = Tensor(to_device(x))
    np.testing.assert_array_equal(ops.sum(t, axis=np.int64(1)).numpy(), [3.0, 12.0])
    np.testing.assert_array_equal(ops.sum(t, axis=-2).numpy(), [3.0, 5.0, 7.0])
    with pytest.raises(AxisError):
        ops.sum(t, axis=2)  # not wrapped around to axis 0
