"""The graph: accumulation over paths, no_grad, freeing of intermediates, errors."""

import gc
import weakref

import numpy as np
import pytest

from minidl import Function, Tensor, no_grad, ops
from minidl.autograd import enable_grad, is_grad_enabled
from minidl.backend import to_cpu, to_device


def leaf(array, requires_grad=True):
    """A leaf Tensor of ``array`` on the current device."""
    return Tensor(to_device(array), requires_grad=requires_grad)


def test_gradient_from_two_paths_is_summed(device):
    x = leaf(np.array([2.0, 3.0]))
    y = x * x + 3.0 * x  # x reaches y along three edges: d/dx = 2x + 3
    y.sum().backward()
    np.testing.assert_allclose(to_cpu(x.grad), 2 * x.numpy() + 3)


def test_diamond_graph_runs_each_function_once_after_all_its_consumers(device):
    x = leaf(np.array(1.5))
    a = ops.exp(x)
    b, c = a * 2.0, a * a  # a feeds two branches that rejoin
    (b + c).backward()
    np.testing.assert_allclose(to_cpu(x.grad), (2 + 2 * np.exp(1.5)) * np.exp(1.5))


def test_grads_accumulate_over_backward_calls_until_zeroed(device):
    x = leaf(np.ones(2))
    (x * 2.0).sum().backward()
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(to_cpu(x.grad), [4.0, 4.0])
    x.zero_grad()
    assert x.grad is None


def test_no_grad_keeps_no_graph(device):
    x, W = leaf(np.ones((2, 3))), leaf(np.ones((3, 4)))
    with no_grad():
        assert not is_grad_enabled()
        y = ops.relu(ops.linear(x, W))
        with enable_grad():
            assert is_grad_enabled()
    assert is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_forward_leaves_no_function_holding_the_arrays(device):
    """Nothing created under no_grad() keeps the input alive (no saved activations)."""
    x, W = leaf(np.ones((1, 2, 6, 6))), leaf(np.ones((3, 2, 3, 3)))
    with no_grad():
        h = ops.relu(ops.conv2d(x, W, padding=1))
        y = ops.max_pool2d(h, 2)
    ref = weakref.ref(h.data)
    del h
    gc.collect()
    assert ref() is None  # only y's array survives
    assert y.creator is None


def test_intermediate_gradients_and_saved_arrays_are_freed_after_backward(device):
    x = leaf(np.ones(3))
    h = x * 2.0
    y = ops.exp(h)
    f = y.creator
    y.sum().backward()
    assert h.grad is None  # not retained by default
    assert not hasattr(f, "y") and f.released  # the Function dropped what it saved
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_retain_grad_keeps_intermediate_gradients(device):
    x = leaf(np.ones(3))
    h = x * 2.0
    (h * h).sum().backward(retain_grad=True)
    np.testing.assert_allclose(to_cpu(h.grad), 2 * h.numpy())


def test_gradient_only_flows_to_inputs_that_require_it(device):
    a, b = leaf(np.ones(2)), leaf(np.ones(2), requires_grad=False)
    y = a * b
    assert y.creator.needs_input_grad == (True, False)
    y.sum().backward()
    assert b.grad is None and a.grad is not None


def test_needs_input_grad_is_known_to_the_forward():
    seen = []

    class Probe(Function):
        def forward(self, x):
            seen.append(self.needs_input_grad)
            return x

        def backward(self, gy):
            return gy

    Probe()(Tensor(np.ones(1), requires_grad=True))
    Probe()(Tensor(np.ones(1)))
    with no_grad():
        Probe()(Tensor(np.ones(1), requires_grad=True))
    assert seen == [(True,), (False,), (False,)]


def test_backward_accepts_an_array_or_tensor_seed_and_checks_shapes(device):
    x = leaf(np.ones((2, 2)))
    (x * 3.0).backward(to_device(np.full((2, 2), 2.0)))
    np.testing.assert_allclose(to_cpu(x.grad), 6.0)
    x.zero_grad()
    (x * 3.0).backward(leaf(np.ones((2, 2)), requires_grad=False))
    np.testing.assert_allclose(to_cpu(x.grad), 3.0)

    class Wrong(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            return gy[:1]
    with pytest.raises(RuntimeError, match=r"gradient of shape \(1, 2\) for a tensor of shape \(2, 2\)"):
        Wrong()(x).backward(to_device(np.ones((2, 2))))


def test_tensor_basics():
    t = Tensor([1, 2, 3])
    assert t.dtype == np.float32 and t.shape == (3,) and len(t) == 3
    assert "shape=(3,)" in repr(t)
    assert t.detach().creator is None
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
