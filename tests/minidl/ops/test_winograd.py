"""Winograd F(2x2, 3x3) and F(4x4, 3x3): against the im2col convolution, a direct loop, the
transform matrices as written, PyTorch and gradcheck.

Tolerances: float64 agrees with the direct convolution to ~1e-15 relative (asserted 1e-12);
float32 to a few ulps of the largest products for F(2x2) (asserted 1e-5 relative to the
output's scale, measured ~2e-7), the same as reordering a float32 sum, and about ten times
that for F(4x4), whose transforms multiply by up to 8 (asserted 1e-4).
"""

import numpy as np
import pytest

from minidl import Tensor, gradcheck
from minidl.ops import conv as conv_module
from minidl.ops import _parallel, conv2d, winograd
from minidl.ops.conv import im2col_forward, kernel_matrix
from minidl.ops.window import Window, channels_last
from tests.minidl.ops.test_conv import conv_loop

SHAPES = [  # (n, c, h, w, n_out): odd and even sizes, non-square, 1..many channels
    (2, 3, 5, 5, 4),
    (1, 5, 7, 6, 3),
    (3, 2, 6, 9, 5),
    (1, 1, 3, 4, 1),
    (2, 16, 8, 7, 24),
]


@pytest.fixture
def always_winograd(monkeypatch):
    """Make conv2d take the Winograd path for any channel count."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "F2_MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_TILES", 1)


def _direct(x_l, W, padding, bias=None):
    """The plain algorithm, im2col + one GEMM (``conv.im2col_forward``), on channels-last x_l."""
    n, h, w, c = x_l.shape
    window = Window("conv2d", (n, c, h, w), 3, 1, padding)
    out = np.empty((n, window.oh, window.ow, W.shape[0]), x_l.dtype)
    return window, im2col_forward(window, window.pad(x_l), kernel_matrix(W), out, bias)


# B^T, A^T of F(4x4) as the module docstring writes them (G is ``winograd.F4.G``)
BT4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float)
AT4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], float)
BT2 = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float)
AT2 = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)
TOLERANCE = {(2, np.float32): 1e-5, (4, np.float32): 1e-4}  # (m of F(m x m), dtype)


@pytest.mark.parametrize("tiling, BT, AT", [(winograd.F2, BT2, AT2), (winograd.F4, BT4, AT4)])
def test_the_matrices_are_the_docstrings_and_correlate_in_one_dimension(tiling, BT, AT):
    """B^T and A^T == the module docstring's; and A^T [(G g) * (B^T d)] is the 3-tap
    correlation of d with g, m outputs (the 1-d identity the 2-d algorithm is built on)."""
    np.testing.assert_array_equal(tiling.BT, BT)
    np.testing.assert_array_equal(tiling.AT, AT)
    rng = np.random.default_rng(8)
    d, g = rng.standard_normal(tiling.t), rng.standard_normal(3)
    correlation = np.array([d[k:k + 3] @ g for k in range(tiling.m)])
    np.testing.assert_allclose(AT @ ((tiling.G @ g) * (BT @ d)), correlation, rtol=1e-12)


@pytest.mark.parametrize("tiling", [winograd.F2, winograd.F4])
def test_the_transforms_are_the_matrix_products_tile_by_tile(tiling):
    """input_transform: v[a, n, T, S, b] = (B^T d B)[a, b] of the tile at rows mT.., columns
    mS..; output_transform: the m x m tile A^T M A lands at output pixel (mT + i, mS + j)."""
    rng = np.random.default_rng(9)
    t, m, (n, tiles_h, tiles_w, c) = tiling.t, tiling.m, (2, 3, 4, 5)
    d = rng.standard_normal((n, m * tiles_h + 2, m * tiles_w + 2, c))
    v = np.empty((t, n, tiles_h, tiles_w, t, c))
    winograd.input_transform(d, np.empty((t, n, tiles_h, m * tiles_w + 2, c)), v, tiling)
    mm = rng.standard_normal(v.shape)
    y = np.empty((n, tiles_h, m, tiles_w, m, c))
    winograd.output_transform(mm, np.empty((t, n, tiles_h, tiles_w, m, c)), y, tiling)
    for i, T, S, k in np.ndindex(n, tiles_h, tiles_w, c):
        tile = d[i, m * T:m * T + t, m * S:m * S + t, k]
        np.testing.assert_allclose(v[:, i, T, S, :, k], tiling.BT @ tile @ tiling.BT.T,
                                   rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(y[i, T, :, S, :, k],
                                   tiling.AT @ mm[:, i, T, S, :, k] @ tiling.AT.T,
                                   rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("tiling", [winograd.F2, winograd.F4])
@pytest.mark.parametrize("n, c, h, w, n_out", SHAPES)
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_direct_convolution(tiling, n, c, h, w, n_out, padding, dtype):
    rtol = TOLERANCE.get((tiling.m, dtype), 1e-12)
    rng = np.random.default_rng(0)
    x_l = rng.standard_normal((n, h, w, c)).astype(dtype)
    W = rng.standard_normal((n_out, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    window, expected = _direct(x_l, W, padding, b)
    out = np.full_like(expected, np.nan)  # every output element must be written
    w_taps = kernel_matrix(W).reshape(3, 3, c, n_out)
    got = winograd.correlate3x3(window.pad(x_l), w_taps, out, b, tiling=tiling)
    assert got is out and got.dtype == dtype
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("tiling", [winograd.F2, winograd.F4])
def test_small_blocks_and_threads_give_the_same_result(monkeypatch, tiling):
    """Bands of tile rows, several images per block, one or many threads, pieces of the
    columns half from one tile row to several images: identical outputs."""
    rng = np.random.default_rng(1)
    x_l, W = rng.standard_normal((3, 11, 9, 4)), rng.standard_normal((5, 4, 3, 3))
    window, expected = _direct(x_l, W, 1)
    w_taps = kernel_matrix(W).reshape(3, 3, 4, 5)
    settings = [(block_bytes, threads, piece_bytes)
                for block_bytes in (1, 3000, 30000, 2**30)  # one tile row ... the whole batch
                for threads in (1, 3) for piece_bytes in (1, 8000, 30000, 2**20)]
    for block_bytes, threads, piece_bytes in settings:
        monkeypatch.setattr(winograd, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(_parallel, "THREADS", threads)
        monkeypatch.setattr(winograd, "PIECE_BYTES", piece_bytes)
        got = winograd.correlate3x3(window.pad(x_l), w_taps, np.empty_like(expected),
                                    tiling=tiling)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_the_tiling_follows_the_map_size_and_the_tiles():
    assert winograd.choose_tiling(8, 112, 112, 128, 128) is winograd.F4  # a large map
    assert winograd.choose_tiling(1, 56, 56, 128, 128) is winograd.F4
    assert winograd.choose_tiling(8, 28, 28, 512, 512) is winograd.F4  # 392 tiles of 4x4
    assert winograd.choose_tiling(8, 28, 28, 128, 128) is winograd.F4
    assert winograd.choose_tiling(1, 28, 28, 512, 512) is winograd.F2  # 49 tiles
    assert winograd.choose_tiling(8, 14, 14, 512, 512) is winograd.F2  # 128 tiles
    assert winograd.n_tiles(2, 14, 13, 4) == 2 * 4 * 4 and winograd.n_tiles(2, 14, 13) == 98


def test_kernel_transform_by_hand():
    """G g G^T for g = ones: G's rows sum to 1, 1.5, 0.5, 1 (F(2x2)) and 1/4, -1/2, -1/6,
    7/24, 1/8, 1 (F(4x4)), so U = outer of those."""
    u = winograd.kernel_transform(np.ones((3, 3, 1, 1)))
    row = np.array([1.0, 1.5, 0.5, 1.0])
    np.testing.assert_allclose(u[:, :, 0, 0], np.outer(row, row))
    u = winograd.kernel_transform(np.ones((3, 3, 1, 1)), winograd.F4)
    row = np.array([1 / 4, -1 / 2, -1 / 6, 7 / 24, 1 / 8, 1])
    np.testing.assert_allclose(u[:, :, 0, 0], np.outer(row, row))


@pytest.mark.parametrize("xs, n_out, padding", [((2, 3, 5, 6), 4, 1), ((1, 2, 7, 5), 3, 0)])
def test_conv2d_forward_takes_winograd_and_matches_loop(always_winograd, monkeypatch, xs,
                                                        n_out, padding):
    calls = []
    real = winograd.correlate3x3
    monkeypatch.setattr(winograd, "correlate3x3", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal(xs), rng.standard_normal((n_out, xs[1], 3, 3)), rng.standard_normal(n_out)
    y = conv2d(x, W, b, padding=padding).data
    assert calls, "the Winograd path was not taken"
    expected = conv_loop(x, W, b, 1, (padding,) * 4, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert channels_last(y).flags.c_contiguous  # NCHW view over channels-last memory


@pytest.mark.parametrize("padding", [0, 1])
def test_gradcheck_through_winograd(always_winograd, monkeypatch, padding):
    """Forward and the stride-1 input gradient (a correlation with the flipped kernel) both go
    through Winograd here; gradcheck compares with central differences in float64."""
    calls = []
    real = winograd.correlate3x3
    monkeypatch.setattr(winograd, "correlate3x3", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(3)
    x, W, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    assert gradcheck(lambda x, W, b: conv2d(x, W, b, padding=padding), x, W, b)
    assert len(calls) >= 2  # forward and input gradient


@pytest.mark.parametrize("h, w", [(6, 6), (5, 7)])  # whole tiles / cropped odd edges
def test_activation_applied_on_the_output_tiles(always_winograd, h, w):
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((2, 3, h, w)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    y = conv2d(x, W, b, padding=1, activation="relu").data
    np.testing.assert_allclose(y, np.maximum(conv_loop(x, W, b, 1, (1,) * 4, 1), 0), rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda x, W, b: conv2d(x, W, b, padding=1, activation="elu"), x, W, b)


@pytest.mark.parametrize("n, c, h, w, n_out", SHAPES[:3])
def test_forward_and_backward_match_torch_float32(always_winograd, n, c, h, w, n_out):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    W = rng.standard_normal((n_out, c, 3, 3), dtype=np.float32)
    b = rng.standard_normal(n_out, dtype=np.float32)
    tx, tW, tb = (Tensor(a, requires_grad=True) for a in (x, W, b))
    y = conv2d(tx, tW, tb, padding=1)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    y.backward(gy)
    X, WW, B = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    Y = torch.nn.functional.conv2d(X, WW, B, padding=1)
    Y.backward(torch.tensor(gy))
    for ours, theirs in ((y.data, Y), (tx.grad, X.grad), (tW.grad, WW.grad), (tb.grad, B.grad)):
        theirs = theirs.detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


def test_dispatch_rules():
    assert winograd.applies((3, 3), (1, 1), (1, 1), 256, 256)
    assert not winograd.applies((3, 3), (2, 2), (1, 1), 256, 256)  # strided
    assert not winograd.applies((3, 3), (1, 1), (2, 2), 256, 256)  # dilated
    assert not winograd.applies((3, 2), (1, 1), (1, 1), 256, 256)  # other kernel
    assert not winograd.applies((3, 3), (1, 1), (1, 1), 3, 256)    # few input channels
    assert not winograd.applies((3, 3), (1, 1), (1, 1), 512, 512, (1, 7, 7))  # 16 tiles
    assert winograd.applies((3, 3), (1, 1), (1, 1), 512, 512, (4, 16, 16))  # MIN_TILES of them
    assert winograd.n_tiles(4, 16, 16) == winograd.MIN_TILES
    # 64 channels: F(4x4) only (VGG16's first block, ResNet50's first stage), not F(2x2)
    assert winograd.applies((3, 3), (1, 1), (1, 1), 64, 64, (8, 224, 224))
    assert winograd.applies((3, 3), (1, 1), (1, 1), 64, 128, (1, 56, 56))
    assert not winograd.applies((3, 3), (1, 1), (1, 1), 64, 64, (8, 14, 14))  # F(2x2) there
    assert winograd.applies((3, 3), (1, 1), (1, 1), 128, 128, (8, 14, 14))
    assert not winograd.applies((3, 3), (1, 1), (1, 1), 32, 32, (8, 224, 224))
    assert winograd.n_tiles(2, 7, 8) == 2 * 4 * 4  # a 7-row output needs 4 tile rows
    assert conv_module.winograd is winograd
