"""conv2d: forward against a direct loop and PyTorch, backward against numerical gradients."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck, no_grad
from minidl.backend import to_cpu, to_device
from minidl.ops import activation, conv2d
from minidl.ops.window import Window


def conv_loop(x, W, b, stride, pads, dilation):
    """The definition, one multiply-add at a time: pads = (top, bottom, left, right)."""
    n, c, h, w = x.shape
    n_out, _, kh, kw = W.shape
    top, bottom, left, right = pads
    xp = np.zeros((n, c, h + top + bottom, w + left + right))
    xp[:, :, top:top + h, left:left + w] = x
    k_h, k_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    oh = (xp.shape[2] - k_h) // stride + 1
    ow = (xp.shape[3] - k_w) // stride + 1
    y = np.zeros((n, n_out, oh, ow))
    for b_ in range(n):
        for o in range(n_out):
            for oy in range(oh):
                for ox in range(ow):
                    acc = 0.0 if b is None else b[o]
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                acc += (xp[b_, ci, oy * stride + i * dilation, ox * stride + j * dilation]
                                        * W[o, ci, i, j])
                    y[b_, o, oy, ox] = acc
    return y


CASES = [  # (x shape, W shape, stride, padding, dilation)
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, 1),        # VGG-style
    ((1, 2, 7, 6), (3, 2, 3, 2), 2, 1, 1),        # strided, non-square kernel and input
    ((2, 2, 7, 7), (2, 2, 3, 3), 1, 2, 2),        # dilated
    ((1, 3, 6, 5), (2, 3, 2, 3), (2, 1), (0, 1), 1),  # per-axis stride and padding
    ((1, 2, 4, 4), (2, 2, 3, 3), 1, 3, 1),        # padding wider than the kernel reach
    ((2, 4, 3, 3), (5, 4, 1, 1), 1, 0, 1),        # 1x1
]


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize("xs, ws, stride, padding, dilation", CASES)
def test_forward_matches_loop(device, xs, ws, stride, padding, dilation):
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = conv2d(*map(to_device, (x, W, b)), stride, padding, dilation).numpy()
    (sy, sx), (py, px) = _pair(stride), _pair(padding)
    if sy == sx:
        expected = conv_loop(x, W, b, sy, (py, py, px, px), dilation)
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    else:  # the loop takes one stride: check each output row/col against a stride-1 result
        full = conv_loop(x, W, b, 1, (py, py, px, px), dilation)
        np.testing.assert_allclose(y, full[:, :, ::sy, ::sx], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation", CASES)
def test_forward_and_backward_match_torch(device, xs, ws, stride, padding, dilation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    tx, tW, tb = (Tensor(to_device(a), requires_grad=True) for a in (x, W, b))
    y = conv2d(tx, tW, tb, stride=stride, padding=padding, dilation=dilation)
    gy = rng.standard_normal(y.shape)
    y.backward(to_device(gy))
    X, WW, B = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    Y = torch.nn.functional.conv2d(X, WW, B, stride=stride, padding=padding, dilation=dilation)
    Y.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), Y.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in ((tx, X), (tW, WW), (tb, B)):
        np.testing.assert_allclose(to_cpu(ours.grad), theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation", CASES[:5])
def test_gradcheck(device, xs, ws, stride, padding, dilation):
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    assert gradcheck(lambda x, W, b: conv2d(x, W, b, stride, padding, dilation), x, W, b)


@pytest.mark.parametrize("name", ["relu", "leakyrelu", "elu", "sigmoid", "tanh", "softplus",
                                  "hardtanh", "softsign"])
def test_activation_inside_the_op(device, name):
    """conv2d(..., activation=f) is f(conv2d(...)): forward equal, backward through y alone
    (a fused bias + activation kernel on the GPU for the first five)."""
    rng = np.random.default_rng(7)
    x, W, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y = conv2d(to_device(x), to_device(W), to_device(b), 2, 1, activation=name)
    plain = conv_loop(x, W, b, 2, (1, 1, 1, 1), 1)
    np.testing.assert_allclose(y.numpy(), activation(plain, name).numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, W, b: conv2d(x, W, b, 2, 1, activation=name), x, W, b)


@pytest.mark.parametrize("size", [5, 6, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_same_mode_keeps_ceil_size_and_pads_bottom_right(device, size, stride):
    """DL4J Same mode: out = ceil(in / stride); the odd extra padding row goes bottom/right."""
    rng = np.random.default_rng(3)
    x, W = rng.standard_normal((1, 2, size, size + 1)), rng.standard_normal((3, 2, 2, 2))
    y = conv2d(to_device(x), to_device(W), stride=stride, mode="Same").numpy()
    assert y.shape[2:] == (-(-size // stride), -(-(size + 1) // stride))
    win = Window("conv2d", x.shape, 2, stride, 0, 1, "same")
    pads = (win.pad_top, win.pad_bottom, win.pad_left, win.pad_right)
    assert win.pad_top <= win.pad_bottom and win.pad_left <= win.pad_right
    full = conv_loop(x, W, None, 1, pads, 1)
    np.testing.assert_allclose(y, full[:, :, ::stride, ::stride][:, :, :y.shape[2], :y.shape[3]],
                               rtol=1e-10, atol=1e-10)
    assert gradcheck(lambda x, W: conv2d(x, W, stride=stride, mode="same"), x, W)


def test_float32_stays_float32_and_output_is_nchw(device):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    W = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    y = conv2d(to_device(x), to_device(W), padding=1).numpy()
    assert y.dtype == np.float32 and y.shape == (2, 5, 6, 6)
    expected = conv_loop(x.astype(np.float64), W.astype(np.float64), None, 1, (1, 1, 1, 1), 1)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_blocks_smaller_than_an_image_give_the_same_result(device, monkeypatch):
    """Row bands (the path large images take) agree with whole-image blocks."""
    from minidl.ops import conv as conv_module
    rng = np.random.default_rng(5)
    x, W = rng.standard_normal((3, 4, 9, 8)), rng.standard_normal((2, 4, 3, 3))
    gy = to_device(np.ones((3, 2, 9, 8)))
    tx, tW = Tensor(to_device(x), requires_grad=True), Tensor(to_device(W), requires_grad=True)
    conv2d(tx, tW, padding=1).backward(gy)
    for budget in ("COL_CHUNK_BYTES", "GPU_COL_CHUNK_BYTES"):  # the CPU's and the GPU's
        monkeypatch.setattr(conv_module, budget, 700)  # about two output rows
    monkeypatch.setattr(conv_module, "MIN_BLOCK_PIXELS", 1)
    ux, uW = Tensor(to_device(x), requires_grad=True), Tensor(to_device(W), requires_grad=True)
    y = conv2d(ux, uW, padding=1)
    y.backward(gy)
    np.testing.assert_allclose(y.numpy(), conv_loop(x, W, None, 1, (1, 1, 1, 1), 1), atol=1e-10)
    np.testing.assert_allclose(to_cpu(ux.grad), to_cpu(tx.grad), atol=1e-10)
    np.testing.assert_allclose(to_cpu(uW.grad), to_cpu(tW.grad), atol=1e-10)


def test_frozen_weights_keep_no_input_and_first_layer_computes_no_gx(device):
    rng = np.random.default_rng(6)
    x, W = (to_device(rng.standard_normal(s)) for s in ((1, 2, 5, 5), (3, 2, 3, 3)))
    frozen = Tensor(x, requires_grad=True)
    y = conv2d(frozen, Tensor(W), padding=1)
    assert y.creator.xpad is None  # W needs no gradient: nothing saved for gW
    first = Tensor(W, requires_grad=True)
    y = conv2d(Tensor(x), first, padding=1)
    calls = []
    y.creator._grad_input = lambda gy: calls.append(gy)
    y.sum().backward()
    assert calls == [] and first.grad is not None
    with no_grad():
        assert conv2d(Tensor(x, requires_grad=True), first, padding=1).creator is None


@pytest.mark.parametrize("x, W, message", [
    (np.zeros((1, 3, 5, 5)), np.zeros((2, 4, 3, 3)), r"conv2d: input has 3 channels.*n_in=4"),
    (np.zeros((1, 3, 2, 2)), np.zeros((2, 3, 3, 3)), r"conv2d: kernel 3.*larger than the padded input height 2"),
    (np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)), r"conv2d: expected a 4-d .* got shape \(3, 5, 5\)"),
    (np.zeros((1, 3, 5, 5), dtype=np.int64), np.zeros((2, 3, 3, 3)), r"conv2d: expected a floating-point .*int64"),
    (np.zeros((1, 3, 5, 5), np.float32), np.zeros((2, 3, 3, 3)), r"conv2d: input dtype float32 differs"),
])
def test_bad_input_names_the_op_and_shapes(x, W, message):
    with pytest.raises(ValueError, match=message):
        conv2d(x, W)


def test_strict_mode_rejects_inexact_tiling_and_bias_shape_is_checked():
    with pytest.raises(ValueError, match="Strict"):
        conv2d(np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), stride=2, mode="strict")
    with pytest.raises(ValueError, match=r"conv2d: bias of shape \(3,\).*n_out=2"):
        conv2d(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)), np.zeros(3))
