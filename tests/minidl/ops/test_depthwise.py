"""depthwise_conv2d: forward against a hand loop and PyTorch (groups=C), backward by float64
gradcheck and PyTorch, on the CPU and the emulated GPU; the CUDA kernels against the CPU path.
Every test runs twice on the CPU: with numba's compiled loops and with NumPy's einsums."""

import numpy as np
import pytest

from minidl import Tensor, gradcheck, no_grad
from minidl.backend import gpu_available, to_cpu, to_device
from minidl.ops import cuda, depthwise, depthwise_conv2d, depthwise_einsum
from minidl.ops.depthwise import (correlate, correlate_taps, from_torch, input_gradient,
                                  to_torch, weight_gradient)
from minidl.ops.depthwise_einsum import phase_gradient, scatter_taps
from minidl.ops.window import Window, channels_first, channels_last


pytestmark = pytest.mark.usefixtures("loops")  # every test on both CPU paths (conftest)


def depthwise_loop(x, W, b, stride, pads, dilation):
    """The definition, one multiply-add at a time: pads = (top, bottom, left, right)."""
    n, c, h, w = x.shape
    kh, kw, _, m = W.shape
    (sy, sx), (dy, dx) = stride, dilation
    top, bottom, left, right = pads
    xp = np.zeros((n, c, h + top + bottom, w + left + right))
    xp[:, :, top:top + h, left:left + w] = x
    oh = (xp.shape[2] - dy * (kh - 1) - 1) // sy + 1
    ow = (xp.shape[3] - dx * (kw - 1) - 1) // sx + 1
    y = np.zeros((n, c * m, oh, ow))
    for b_ in range(n):
        for ci in range(c):
            for k in range(m):
                for oy in range(oh):
                    for ox in range(ow):
                        acc = 0.0 if b is None else b[ci * m + k]
                        for i in range(kh):
                            for j in range(kw):
                                pixel = xp[b_, ci, oy * sy + i * dy, ox * sx + j * dx]
                                acc += pixel * W[i, j, ci, k]
                        y[b_, ci * m + k, oy, ox] = acc
    return y


# (x shape, kernel, depth multiplier, stride, padding, dilation, mode)
CASES = [
    ((2, 3, 7, 6), (3, 3), 1, 1, 1, 1, "truncate"),          # MobileNetV2's stride-1 block
    ((2, 3, 8, 8), (3, 3), 1, 2, 0, 1, "truncate"),          # its stride-2 block after the pad
    ((1, 2, 9, 8), (3, 2), 2, 2, (1, 0), 1, "truncate"),     # multiplier 2, uneven kernel
    ((1, 3, 10, 9), (3, 3), 1, (1, 2), 0, (2, 1), "truncate"),  # dilated, per-axis stride
    ((2, 3, 8, 7), (3, 3), 2, 2, 0, 1, "same"),              # Same: the extra row at the bottom
    ((1, 2, 5, 6), (3, 3), 3, 1, 3, 1, "truncate"),          # padding wider than the kernel reach
    ((3, 4, 4, 4), (1, 1), 1, 1, 0, 1, "truncate"),          # 1x1: a per-channel scale
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _case(case, seed=0):
    shape, kernel, m, stride, padding, dilation, mode = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((*kernel, shape[1], m))
    b = rng.standard_normal(shape[1] * m)
    return x, W, b, dict(stride=stride, padding=padding, dilation=dilation, mode=mode)


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_loop(device, case):
    x, W, b, args = _case(case)
    y = depthwise_conv2d(*map(to_device, (x, W, b)), **args).numpy()
    w = Window("t", x.shape, W.shape[:2], args["stride"], args["padding"], args["dilation"],
               args["mode"])
    pads = (w.pad_top, w.pad_bottom, w.pad_left, w.pad_right)
    expected = depthwise_loop(x, W, b, _pair(args["stride"]), pads, _pair(args["dilation"]))
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_gradcheck(device, case):
    x, W, b, args = _case(case, seed=1)
    assert gradcheck(lambda x_, W_, b_: depthwise_conv2d(x_, W_, b_, **args), x, W, b)


@pytest.mark.parametrize("name", ["tanh", "relu6", "swish"])
def test_gradcheck_with_an_activation(device, name):
    """tanh and relu6 are applied inside the op (from y); swish after it (it needs z)."""
    x, W, b, args = _case(CASES[2], seed=2)
    x *= 0.5  # keep relu6's inputs mostly between its kinks at 0 and 6, away from them
    fn = lambda x_, W_, b_: depthwise_conv2d(x_, W_, b_, activation=name, **args)  # noqa: E731
    assert gradcheck(fn, x, W, b)


@pytest.fixture(params=["whole", "split", "image by image", "one thread"])
def border(request, monkeypatch):
    """The CPU block plans (``depthwise_einsum``): small images padded whole, and (as large
    images are) the border blocks split off the inside (``GRID_MIN_POSITIONS``), or one image
    per block (as images over ``RUN_BYTES`` are), each split over the threads as large outputs
    are; and small outputs, all blocks in the calling thread (``PARALLEL_OUTPUTS``)."""
    if request.param == "split":
        monkeypatch.setattr(depthwise_einsum, "GRID_MIN_POSITIONS", 0)
    if request.param == "image by image":
        monkeypatch.setattr(depthwise_einsum, "RUN_BYTES", 0)
    if request.param != "one thread":
        monkeypatch.setattr(depthwise_einsum, "PARALLEL_OUTPUTS", 0)
    return request.param


@pytest.mark.parametrize("case", CASES)
def test_forward_and_backward_match_torch(device, border, case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, W, b, args = _case(case, seed=3)
    tx, tW, tb = (Tensor(to_device(a), requires_grad=True) for a in (x, W, b))
    y = depthwise_conv2d(tx, tW, tb, **args)
    gy = np.random.default_rng(4).standard_normal(y.shape)
    y.backward(to_device(gy))
    # torch has no Same mode: pad as Window works it out, then a valid grouped convolution.
    w = Window("t", x.shape, W.shape[:2], args["stride"], args["padding"], args["dilation"],
               args["mode"])
    X, WT, B = (torch.tensor(a, requires_grad=True) for a in (x, to_torch(W), b))
    Xp = F.pad(X, (w.pad_left, w.pad_right, w.pad_top, w.pad_bottom))
    Y = F.conv2d(Xp, WT, B, stride=args["stride"], dilation=args["dilation"], groups=x.shape[1])
    Y.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), Y.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_cpu(tx.grad), X.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_cpu(tW.grad), from_torch(WT.grad.numpy(), W.shape[3]),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(to_cpu(tb.grad), B.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_mobilenet_shape_in_float32_matches_torch():
    """A MobileNetV2 layer in the engine's default precision, channels-last input as a network
    hands it over: [2, 32, 28, 28] 3x3, stride 1 and 2."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 28, 28, 32), dtype=np.float32).transpose(0, 3, 1, 2)
    W = rng.standard_normal((3, 3, 32, 1), dtype=np.float32)
    for stride in (1, 2):
        with no_grad():
            y = depthwise_conv2d(x, W, stride=stride, padding=1)
        assert y.dtype == np.float32
        expected = torch.nn.functional.conv2d(torch.tensor(np.ascontiguousarray(x)),
                                              torch.tensor(to_torch(W)), stride=stride,
                                              padding=1, groups=32).numpy()
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-5)


# (shape, stride, padding, dilation): blocks of whole images, bands of rows of one image,
# dilated, and no border (the input read in place, through its NCHW strides)
FAST_PATHS = [((3, 5, 9, 8), 1, 1, 1), ((1, 4, 11, 10), 2, 1, 1), ((2, 3, 9, 9), 1, 1, 2),
              ((2, 3, 7, 7), 1, 0, 1), ((1, 2, 6, 7), 1, 4, 1)]  # padding past the kernel reach


def weight_gradient_taps(window, xpad, gy_l):
    """gW [KH, KW, C] by its definition: each tap's pixels times gy, summed over N, OH, OW."""
    return np.stack([np.stack([(window.tap(xpad, i, j) * gy_l).sum(axis=(0, 1, 2))
                               for j in range(window.kw)]) for i in range(window.kh)])


@pytest.mark.parametrize("layout", ["channels-last", "NCHW"])
@pytest.mark.parametrize("shape, stride, padding, dilation", FAST_PATHS)
def test_the_fast_paths_are_the_plain_sums_over_taps(border, layout, shape, stride, padding,
                                                     dilation):
    """``correlate`` (einsum over the windows view, split over threads) == ``correlate_taps``;
    the stride-1 input gradient (a correlation) == the tap scatter; ``weight_gradient`` == the
    taps' sums. A channels-last input (as a network hands it over) takes the whole-rows einsums
    at stride 1, an NCHW one the per-pixel ones."""
    rng = np.random.default_rng(6)
    window = Window("t", shape, (3, 3), stride, padding, dilation)
    if border == "split":
        assert (len(depthwise_einsum._grid(window, slice(0, window.oh))) > 1) == bool(padding)
    x = rng.standard_normal(shape)
    x_l = channels_last(x) if layout == "NCHW" else np.ascontiguousarray(channels_last(x))
    assert depthwise_einsum.whole_rows(window, x_l) == (layout == "channels-last" and stride == 1)
    w = rng.standard_normal((3, 3, shape[1]))
    out = np.empty((shape[0], window.oh, window.ow, shape[1]))
    np.testing.assert_allclose(correlate(window, x_l, w, out),
                               correlate_taps(window, window.pad(x_l), w), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(out.shape)
    np.testing.assert_allclose(input_gradient(window, gy, w),
                               window.interior(scatter_taps(window, gy, w)), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(weight_gradient(window, x_l, gy),
                               weight_gradient_taps(window, window.pad(x_l), gy), rtol=1e-12,
                               atol=1e-12)


# (shape, kernel, stride, padding, mode): odd and even sizes, a kernel shorter than the stride,
# uneven Same padding, more threads than images and enough work to split
PHASES = [((2, 3, 9, 8), 3, 2, 1, "truncate"), ((1, 2, 10, 11), (5, 3), (3, 2), 2, "truncate"),
          ((3, 2, 7, 7), 1, 2, 0, "truncate"), ((2, 2, 8, 9), 2, 3, 0, "same"),
          ((1, 4, 12, 12), 3, 2, 1, "same"), ((1, 64, 40, 40), 3, 2, 1, "truncate"),
          ((4, 32, 24, 24), 3, 2, 1, "truncate")]


@pytest.mark.parametrize("whole_rows", [False, True], ids=["by pixels", "by rows"])
@pytest.mark.parametrize("shape, kernel, stride, padding, mode", PHASES)
def test_the_phase_gradient_is_the_tap_scatter(monkeypatch, whole_rows, shape, kernel, stride,
                                               padding, mode):
    """Both ways of summing a phase (``depthwise_einsum._phase_sums``) give the scatter's gx."""
    if whole_rows:
        monkeypatch.setattr(depthwise_einsum, "ROW_PHASE_POSITIONS", 0)
    rng = np.random.default_rng(7)
    window = Window("t", shape, kernel, stride, padding, 1, mode)
    gy = rng.standard_normal((shape[0], window.oh, window.ow, shape[1]))
    w = rng.standard_normal((window.kh, window.kw, shape[1]))
    np.testing.assert_allclose(phase_gradient(window, gy, w),
                               window.interior(scatter_taps(window, gy, w)), rtol=1e-12,
                               atol=1e-12)


def test_layouts_keras_is_dl4j_and_torch_maps_both_ways():
    """Output channel c*m + k comes from input channel c in all three layouts."""
    rng = np.random.default_rng(7)
    W = rng.standard_normal((3, 2, 4, 2))  # [kh, kw, C, m], also Keras' kernel as it is
    w_torch = to_torch(W)
    assert w_torch.shape == (8, 1, 3, 2)
    np.testing.assert_array_equal(w_torch[2 * 2 + 1, 0], W[:, :, 2, 1])  # c=2, k=1 -> channel 5
    np.testing.assert_array_equal(from_torch(w_torch, 2), W)
    with pytest.raises(ValueError, match=r"\[C\*m, 1, kh, kw\] with m=3"):
        from_torch(w_torch, 3)


def test_frozen_weights_keep_no_input():
    x, W, b, args = _case(CASES[0])
    from minidl.ops.depthwise import DepthwiseConv2d
    fn = DepthwiseConv2d(args["stride"], args["padding"])
    y = fn(Tensor(x, requires_grad=True), Tensor(W), Tensor(b))
    assert fn.saved is None  # no gW asked for: the padded input is not kept
    y.backward(np.ones(y.shape))


@pytest.mark.parametrize("x_shape, W_shape, b_shape, message", [
    ((1, 3, 5, 5), (3, 3, 4, 1), None, r"input has 3 channels .* expect n_in=4"),
    ((1, 3, 5, 5), (3, 3, 3, 2), (3,), r"bias of shape \(3,\) .* expected \(6,\)"),
    ((3, 5, 5), (3, 3, 3, 1), None, r"expected a 4-d \[batch, channels, height, width\]"),
    ((1, 3, 5, 5), (3, 3, 3), None, r"expected a 4-d \[kh, kw, n_in, depth_multiplier\] array"),
])
def test_errors_name_the_op_and_the_shapes(x_shape, W_shape, b_shape, message):
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match="depthwise_conv2d: " + message):
        depthwise_conv2d(np.zeros(x_shape), np.zeros(W_shape), b)


# -- the CUDA kernels (minidl/ops/cuda/depthwise.cu) against the CPU path -------------------------
@pytest.fixture(params=["emulated", pytest.param("cupy", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA device")])])
def xp(request, monkeypatch):
    """The array module the kernels run on: NumPy (kernels compiled by g++) or CuPy."""
    if request.param == "emulated":
        request.getfixturevalue("cuda_emulator").install(monkeypatch)
        return np
    import cupy
    return cupy


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_the_cpu_path(xp, case, dtype):
    x, W, b, args = (a.astype(dtype) if isinstance(a, np.ndarray) else a for a in _case(case, 8))
    tx, tW = Tensor(x, requires_grad=True), Tensor(W, requires_grad=True)
    y = depthwise_conv2d(tx, tW, **args)
    gy = np.random.default_rng(9).standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    window = Window("t", x.shape, W.shape[:2], args["stride"], args["padding"],
                    args["dilation"], args["mode"])
    x_l, gy_l = xp.asarray(channels_last(x).copy()), xp.asarray(channels_last(gy).copy())
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    got_y = cuda.depthwise_forward(window, x_l, xp.asarray(W))
    assert got_y.dtype == dtype
    np.testing.assert_allclose(channels_first(_host(got_y)), y.numpy(), **tol)
    got_gx = cuda.depthwise_backward_input(window, gy_l, xp.asarray(W))
    np.testing.assert_allclose(channels_first(_host(got_gx)), tx.grad, **tol)
    got_gW = cuda.depthwise_backward_weight(window, x_l, gy_l, W.shape[3])
    np.testing.assert_allclose(_host(got_gW), tW.grad, **tol)


def test_weight_gradient_over_many_chunks(xp):
    """More output positions than one chunk of the partial sums, and a last chunk cut short."""
    shape = (3, 2, 13, 11)  # 3 * 13 * 11 = 429 positions: 6 full chunks of 64 and 45
    x, W = np.random.default_rng(10).standard_normal(shape), np.ones((3, 3, 2, 2))
    window = Window("t", shape, (3, 3), 1, 1)
    gy = np.random.default_rng(11).standard_normal((3, 13, 11, 4))
    tW = Tensor(W, requires_grad=True)
    depthwise_conv2d(x, tW, padding=1).backward(channels_first(gy))
    got = cuda.depthwise_backward_weight(window, xp.asarray(channels_last(x).copy()),
                                         xp.asarray(gy), 2)
    np.testing.assert_allclose(_host(got), tW.grad, rtol=1e-12)


# (shape, stride): MobileNetV2-like layers large enough for the compiled 3x3 fast path inside
# the image and the bounds-checked loop on its border, cut by images and by bands of rows
LARGE = [((3, 40, 17, 15), 1), ((3, 40, 17, 15), 2), ((1, 24, 21, 20), 1), ((1, 24, 21, 20), 2)]


@pytest.mark.parametrize("shape, stride", LARGE)
def test_float32_paths_match_the_float64_sums(loops, monkeypatch, shape, stride):
    """float32 forward, gx and gW of either CPU path against the float64 definitions, with the
    work split over the threads."""
    monkeypatch.setattr(depthwise_einsum, "PARALLEL_OUTPUTS", 0)
    rng = np.random.default_rng(8)
    window = Window("t", shape, (3, 3), stride, 1, 1)
    x = rng.standard_normal((shape[0], *shape[2:], shape[1]))
    w = rng.standard_normal((3, 3, shape[1]))
    gy = rng.standard_normal((shape[0], window.oh, window.ow, shape[1]))
    f32 = [a.astype(np.float32) for a in (x, w, gy)]
    out = np.empty(gy.shape, np.float32)
    for got, expected in [
            (correlate(window, f32[0], f32[1], out), correlate_taps(window, window.pad(x), w)),
            (input_gradient(window, f32[2], f32[1]), window.interior(scatter_taps(window, gy, w))),
            (weight_gradient(window, f32[0], f32[2]),
             weight_gradient_taps(window, window.pad(x), gy))]:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_the_compiled_loops_take_float32_and_float64_numpy_arrays_only(loops):
    """float16 (and any array that is not NumPy's) goes the einsum way; the results agree."""
    half = np.ones((1, 4, 4, 2), np.float16)
    expected_loops = loops == "compiled"
    assert (depthwise._compiled(half.astype(np.float32)) is not None) == expected_loops
    assert depthwise._compiled(half) is None
    window = Window("t", (1, 2, 4, 4), (3, 3), 1, 1, 1)
    w = np.full((3, 3, 2), 0.5, np.float16)
    y = correlate(window, half, w, np.empty((1, 4, 4, 2), np.float16))
    np.testing.assert_allclose(y, correlate_taps(window, window.pad(half), w))
