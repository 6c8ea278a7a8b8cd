"""Pooling: forward against loops and PyTorch, backward against numerical gradients."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck, no_grad
from minidl.backend import to_cpu, to_device
from minidl.ops import _parallel, avg_pool2d, global_pool, max_pool2d, pnorm_pool2d, pooling


def pool_loop(x, k, s, p, kind, include_pad=False):
    """Max or mean of each window, the definition; padding is -inf (max) or excluded/zero (avg)."""
    (kh, kw), (sy, sx), (py, px) = (_pair(v) for v in (k, s, p))
    n, c, h, w = x.shape
    oh, ow = (h + 2 * py - kh) // sy + 1, (w + 2 * px - kw) // sx + 1
    y = np.zeros((n, c, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            r0, c0 = oy * sy - py, ox * sx - px
            rows = slice(max(r0, 0), min(r0 + kh, h))
            cols = slice(max(c0, 0), min(c0 + kw, w))
            win = x[:, :, rows, cols].reshape(n, c, -1)
            if kind == "max":
                y[:, :, oy, ox] = win.max(axis=2)
            else:
                y[:, :, oy, ox] = win.sum(axis=2) / (kh * kw if include_pad else win.shape[2])
    return y


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


CASES = [  # (x shape, kernel, stride, padding)
    ((2, 3, 6, 6), 2, 2, 0),
    ((1, 2, 7, 5), 3, 2, 1),
    ((1, 2, 6, 7), (3, 2), (1, 2), (1, 0)),
    ((2, 1, 5, 5), 3, 1, 1),  # overlapping windows
]


@pytest.mark.parametrize("xs, k, s, p", CASES)
def test_max_pool_forward_and_gradcheck(device, xs, k, s, p):
    x = np.random.default_rng(0).standard_normal(xs)
    np.testing.assert_array_equal(max_pool2d(to_device(x), k, s, p).numpy(),
                                  pool_loop(x, k, s, p, "max"))
    assert gradcheck(lambda x: max_pool2d(x, k, s, p), x)


@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize("xs, k, s, p", CASES)
def test_avg_pool_forward_and_gradcheck(device, xs, k, s, p, include_pad):
    x = np.random.default_rng(1).standard_normal(xs)
    y = avg_pool2d(to_device(x), k, s, p, include_pad=include_pad).numpy()
    np.testing.assert_allclose(y, pool_loop(x, k, s, p, "avg", include_pad), rtol=1e-12)
    assert gradcheck(lambda x: avg_pool2d(x, k, s, p, include_pad=include_pad), x)


def test_avg_pool_default_excludes_padding_like_dl4j(device):
    """DL4J's avgPoolIncludePadInDivisor defaults to false: a corner window of 1 real pixel
    under a 2x2 kernel with padding 1 averages that pixel alone."""
    x = to_device(np.arange(1.0, 10.0).reshape(1, 1, 3, 3))
    y = avg_pool2d(x, 2, 2, 1).numpy()
    assert y[0, 0, 0, 0] == 1.0  # not 1/4
    assert avg_pool2d(x, 2, 2, 1, include_pad=True).numpy()[0, 0, 0, 0] == 0.25


@pytest.mark.parametrize("xs, k, s, p", CASES)
def test_pools_match_torch(device, xs, k, s, p):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    x = rng.standard_normal(xs)
    x[0, 0, :2, :2] = 0.0  # a tied window: the first maximum takes the gradient in both
    for ours, theirs in [
        (lambda t: max_pool2d(t, k, s, p), lambda t: F.max_pool2d(t, k, s, p)),
        (lambda t: avg_pool2d(t, k, s, p, include_pad=True),
         lambda t: F.avg_pool2d(t, k, s, p, count_include_pad=True)),
        (lambda t: avg_pool2d(t, k, s, p), lambda t: F.avg_pool2d(t, k, s, p, count_include_pad=False)),
    ]:
        tx = Tensor(to_device(x), requires_grad=True)
        y = ours(tx)
        gy = rng.standard_normal(y.shape)
        y.backward(to_device(gy))
        X = torch.tensor(x, requires_grad=True)
        Y = theirs(X)
        Y.backward(torch.tensor(gy))
        np.testing.assert_allclose(y.numpy(), Y.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(to_cpu(tx.grad), X.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_tie_sends_gradient_to_first_element_only(device):
    t = Tensor(to_device(np.zeros((1, 1, 2, 2))), requires_grad=True)
    max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(to_cpu(t.grad), [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_max_pool_under_no_grad_keeps_no_argmax_and_padding_never_wins(device):
    x = to_device(-np.ones((1, 1, 3, 3)))
    with no_grad():
        y = max_pool2d(Tensor(x, requires_grad=True), 2, 2, 1)
    assert y.creator is None
    np.testing.assert_array_equal(y.numpy(), -np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("p", [2, 3])
def test_pnorm_pool_matches_torch_lp_pool(device, p):
    """PyTorch's lp_pool2d is (sum x^p)^(1/p): DL4J's PNORM for even p; on |x| for any p."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 5))
    y = pnorm_pool2d(to_device(x), p, (2, 3), (2, 1)).numpy()
    expected = torch.nn.functional.lp_pool2d(torch.tensor(np.abs(x)), p, (2, 3), (2, 1))
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-6)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_pnorm_pool_gradcheck_with_padding(device, p):
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 5))
    assert gradcheck(lambda x: pnorm_pool2d(x, p, 2, 1, padding=1), x, atol=1e-5)


def test_pnorm_of_a_window_of_zeros_is_zero_with_a_zero_gradient(device):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = -2.0  # only the first 2x2 window has a nonzero pixel
    t = Tensor(to_device(x), requires_grad=True)
    y = pnorm_pool2d(t, 3, 2)
    np.testing.assert_allclose(y.numpy()[0, 0], [[2.0, 0.0], [0.0, 0.0]], rtol=1e-12, atol=0)
    y.backward(to_device(np.ones((1, 1, 2, 2))))
    expected = np.zeros((4, 4))
    expected[0, 0] = -1.0  # d|x|/dx for a window with one nonzero pixel
    np.testing.assert_allclose(to_cpu(t.grad)[0, 0], expected, atol=1e-12)
    with pytest.raises(ValueError, match=r"pnorm_pool2d: the norm p must be >= 1.*got 0"):
        pnorm_pool2d(t, 0, 2)


@pytest.mark.parametrize("kind", ["max", "avg", "sum", "pnorm"])
def test_global_pool_forward_and_gradcheck(device, kind):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    expected = {"max": x.max(axis=(2, 3)), "avg": x.mean(axis=(2, 3)), "sum": x.sum(axis=(2, 3)),
                "pnorm": np.sqrt((x ** 2).sum(axis=(2, 3)))}[kind]
    y = global_pool(to_device(x), kind).numpy()
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert gradcheck(lambda x: global_pool(x, kind), x, atol=1e-5)


def test_bad_input_names_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"max_pool2d: expected a 4-d .*got shape \(3, 4\)"):
        max_pool2d(np.zeros((3, 4)), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel 5.*larger than the padded input height 4"):
        avg_pool2d(np.zeros((1, 1, 4, 4)), 5)
    with pytest.raises(ValueError, match=r"max_pool2d: expected a floating-point .*int"):
        max_pool2d(np.zeros((1, 1, 4, 4), dtype=int), 2)
    with pytest.raises(ValueError, match="global_pool: unknown pooling type"):
        global_pool(np.zeros((1, 1, 2, 2)), "median")


def _max_pool_loop_gradient(x, k, s, gy):
    """gx of max pooling (no padding) by the definition: each window's first maximum gets gy."""
    gx = np.zeros_like(x)
    for n, c, oy, ox in np.ndindex(*gy.shape):
        window = x[n, c, oy * s:oy * s + k, ox * s:ox * s + k]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # first maximum, row by row
        gx[n, c, oy * s + i, ox * s + j] += gy[n, c, oy, ox]
    return gx


def test_max_pool_with_more_than_256_taps_on_the_cpu():
    """17x17 = 289 taps: the argmax no longer fits a byte (it used to overflow)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 21, 20))
    x[0, 0, :17, :17] = 1.0  # a tied window: the first tap (0, 0) takes the gradient
    tx = Tensor(x, requires_grad=True)
    y = max_pool2d(tx, 17, 2)
    assert y.shape == (2, 3, 3, 2)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_array_equal(y.numpy(), pool_loop(x, 17, 2, 0, "max"))
    # overlapping windows: a pixel sums several gy, in another order than the loop's
    np.testing.assert_allclose(tx.grad, _max_pool_loop_gradient(x, 17, 2, gy),
                               rtol=1e-12, atol=1e-12)
    torch = pytest.importorskip("torch")
    X = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(X, 17, 2).backward(torch.tensor(gy))
    np.testing.assert_allclose(tx.grad, X.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_with_more_than_256_taps_is_refused_on_the_gpu(device):
    if device != "gpu":
        pytest.skip("the limit is the GPU kernel's (its argmax is a byte)")
    with pytest.raises(ValueError, match="at most 256"):
        max_pool2d(to_device(np.ones((1, 1, 17, 17))), 17)


def _max_pool_loop_gradient_padded(x, k, s, p, gy):
    """gx of max pooling by the definition, with -inf padding: each window's first maximum
    (row by row) gets the window's gy."""
    (kh, kw), (sy, sx), (py, px) = (_pair(v) for v in (k, s, p))
    xpad = np.pad(x, ((0, 0), (0, 0), (py, py), (px, px)), constant_values=-np.inf)
    gxpad = np.zeros_like(xpad)
    for n, c, oy, ox in np.ndindex(*gy.shape):
        window = xpad[n, c, oy * sy:oy * sy + kh, ox * sx:ox * sx + kw]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        gxpad[n, c, oy * sy + i, ox * sx + j] += gy[n, c, oy, ox]
    return gxpad[:, :, py:py + x.shape[2], px:px + x.shape[3]]


@pytest.mark.parametrize("block_bytes", [1, 200, 5000])  # a row ... several images per block
@pytest.mark.parametrize("xs, k, s, p", CASES)
def test_pools_in_blocks_match_the_loop(monkeypatch, xs, k, s, p, block_bytes):
    """The CPU forward runs in blocks of output rows on the threads: each block's windows,
    and their winners, are those of the whole."""
    monkeypatch.setattr(pooling, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_parallel, "THREADS", 3)
    x = np.random.default_rng(2).standard_normal(xs)
    x[..., :3, :3] = 0.5  # ties: the first tap wins
    tx = Tensor(x, requires_grad=True)
    y = max_pool2d(tx, k, s, p)
    np.testing.assert_array_equal(y.numpy(), pool_loop(x, k, s, p, "max"))
    gy = np.random.default_rng(3).standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_allclose(tx.grad, _max_pool_loop_gradient_padded(x, k, s, p, gy),
                               rtol=1e-12, atol=1e-12)
    for include_pad in (False, True):
        np.testing.assert_allclose(avg_pool2d(x, k, s, p, include_pad=include_pad).numpy(),
                                   pool_loop(x, k, s, p, "avg", include_pad), rtol=1e-12)
