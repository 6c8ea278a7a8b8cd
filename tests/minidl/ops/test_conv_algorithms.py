"""conv2d's paths: which one ``choose_algorithm`` picks, and that each computes what the plain
algorithm (one im2col, one GEMM) computes on the shapes that make it run."""

import numpy as np
import pytest

from minidl import Tensor, no_grad
from minidl.backend import to_cpu, to_device
from minidl.ops import conv, conv2d, winograd
from minidl.ops.activations import IDENTITY, resolve
from minidl.ops.conv import BLOCKED, PLAIN, POINTWISE, Conv2d, choose_algorithm, kernel_matrix
from minidl.ops.window import Window, channels_last
from tests.minidl.ops.test_conv import conv_loop


def _window(x_shape, kernel=3, stride=1, padding=1, dilation=1):
    return Window("conv2d", x_shape, kernel, stride, padding, dilation)


def _forward_and_grads(x, W, b, stride=1, padding=1, dilation=1, activation=None):
    """(y, gx, gW, gb, the algorithm chosen) of conv2d on the current device."""
    tx, tW, tb = (Tensor(to_device(a), requires_grad=True) for a in (x, W, b))
    y = conv2d(tx, tW, tb, stride, padding, dilation, activation=activation)
    algorithm = y.creator.algorithm  # (the backward frees the op)
    gy = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(to_device(gy))
    return [to_cpu(a) for a in (y.data, tx.grad, tW.grad, tb.grad)] + [algorithm]


def _random(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# -- the choice ------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, dilation", [
    (3, 1, 1), (3, 2, 1), (3, 1, 2), ((3, 2), 1, 1), (1, 1, 1), (5, 1, 1)])
@pytest.mark.parametrize("c, n_out", [(128, 128), (512, 256), (127, 512), (256, 64)])
@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_winograd_exactly_for_3x3_stride_1_undilated_many_channels_on_the_cpu(
        kernel, stride, dilation, c, n_out, device):
    window = _window((4, c, 16, 16), kernel, stride, 2, dilation)  # 324 tiles at stride 1
    algorithm = choose_algorithm(window, n_out, np.dtype(np.float32), device)
    applies = (kernel, stride, dilation) == (3, 1, 1) and min(c, n_out) >= 128 and device == "cpu"
    assert (algorithm.forward is conv.winograd_forward) == applies
    if not applies:
        assert algorithm.forward in (conv.im2col_forward, conv.blocked_forward)


def test_plain_while_the_batch_columns_fit_the_budget_blocked_beyond(monkeypatch):
    window = _window((4, 8, 10, 10))  # columns: 4 * 10 * 10 * 3 * 3 * 8 float32s
    column_bytes = 4 * 10 * 10 * 9 * 8 * 4
    f32 = np.dtype(np.float32)
    for budget, expected in ((column_bytes, PLAIN), (column_bytes - 1, BLOCKED)):
        monkeypatch.setattr(conv, "COL_CHUNK_BYTES", budget)
        algorithm = choose_algorithm(window, 6, f32, "cpu")
        assert algorithm.forward is expected.forward
        assert algorithm.grad_weights is expected.grad_weights
    # float64 columns are twice the bytes; the GPU's budget is its own.
    assert choose_algorithm(window, 6, np.dtype(np.float64), "cpu").forward is BLOCKED.forward
    monkeypatch.setattr(conv, "GPU_COL_CHUNK_BYTES", column_bytes)
    assert choose_algorithm(window, 6, f32, "gpu").forward is PLAIN.forward


def test_blocks_grow_to_min_block_pixels_rows_whatever_the_budget(monkeypatch):
    window = _window((4, 8, 10, 10))
    xpad = np.zeros((4, 12, 12, 8), np.float32)
    monkeypatch.setattr(conv, "COL_CHUNK_BYTES", 1)  # a budget of one byte
    # blocks grow to MIN_BLOCK_PIXELS, rounded down to whole output rows (10 pixels each) or
    # whole images (100)
    for min_pixels, rows in ((1, 10), (55, 50), (150, 100), (250, 200), (400, 400)):
        monkeypatch.setattr(conv, "MIN_BLOCK_PIXELS", min_pixels)
        sizes = [(stop - start) * (oy1 - oy0) * 10 for start, stop, (oy0, oy1)
                 in conv.blocks(window, xpad)]
        assert sum(sizes) == 400 and max(sizes) == rows  # one output row, or whole images


def test_winograd_needs_enough_tiles():
    f32 = np.dtype(np.float32)
    few = _window((1, 512, 7, 7))  # ResNet50's last stage at batch 1: 16 tiles
    many = _window((8, 512, 14, 14))  # 392 tiles
    assert choose_algorithm(few, 512, f32, "cpu").forward is not conv.winograd_forward
    assert choose_algorithm(many, 512, f32, "cpu").forward is conv.winograd_forward


@pytest.mark.parametrize("kernel, padding, pointwise", [
    (1, 0, True), ((1, 1), (0, 0), True), (1, 1, False), (3, 0, False), ((1, 3), 0, False)])
@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_exactly_for_unpadded_1x1_kernels(kernel, padding, pointwise, stride):
    window = _window((2, 8, 9, 9), kernel, stride, padding)
    algorithm = choose_algorithm(window, 4, np.dtype(np.float32), "cpu")
    assert (algorithm == POINTWISE) == pointwise


@pytest.mark.parametrize("stride", [1, 2, (2, 1), 3])
@pytest.mark.parametrize("channels_last_input", [False, True])
def test_pointwise_paths_equal_the_plain_path(device, monkeypatch, stride, channels_last_input):
    x, W, b = _random((2, 5, 7, 8), (6, 5, 1, 1), (6,), seed=11)
    if channels_last_input:  # as the previous window op leaves it: NCHW shape, NHWC memory
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    *fast, algorithm = _forward_and_grads(x, W, b, stride, padding=0, activation="relu")
    assert algorithm == POINTWISE
    monkeypatch.setattr(conv, "pointwise", lambda window: False)
    *plain, algorithm = _forward_and_grads(x, W, b, stride, padding=0, activation="relu")
    assert algorithm.forward is PLAIN.forward
    for got, expected in zip(fast, plain):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    if isinstance(stride, int):  # (the loop takes one stride for both axes)
        y = np.maximum(conv_loop(x, W, b, stride, (0, 0, 0, 0), 1), 0)
        np.testing.assert_allclose(fast[0], y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_out", [1, 16, 37])
def test_kernel_matrix_rows_in_im2col_order(device, n_out):
    W, = _random((n_out, 5, 3, 2), seed=13)
    w_mat = to_cpu(kernel_matrix(to_device(W)))
    assert w_mat.shape == (3 * 2 * 5, n_out)
    for i in range(3):  # row (i * KW + j) * C + c holds W[:, c, i, j]
        for j in range(2):
            for c in range(5):
                np.testing.assert_array_equal(w_mat[(i * 2 + j) * 5 + c], W[:, c, i, j])


def test_pointwise_reads_a_channels_last_input_in_place():
    x, W = _random((2, 4, 6, 6), (3, 4, 1, 1), seed=12)
    x_l = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    window = _window(x.shape, 1, 1, 0)
    assert np.shares_memory(conv.pointwise_input(window, x_l), x_l)  # no copy at stride 1
    assert np.shares_memory(kernel_matrix(W), W)  # nor of a 1x1 kernel
    sub = conv.pointwise_input(_window(x.shape, 1, 2, 0), x_l)
    np.testing.assert_array_equal(sub, x_l[:, ::2, ::2].reshape(-1, 4))


@pytest.mark.parametrize("stride, padding, dilation, by_correlation", [
    (1, 1, 1, True), (1, 0, 1, True), (1, 2, 1, True),  # padding up to the kernel's span
    (1, 3, 1, False),  # wider: the padded gy would need a negative border
    (1, 4, 2, True),  # dilated: the span is 4
    (2, 1, 1, False), ((1, 2), 1, 1, False)])
def test_input_gradient_by_correlation_exactly_for_stride_1(stride, padding, dilation,
                                                           by_correlation):
    window = _window((1, 2, 9, 9), 3, stride, padding, dilation)
    algorithm = choose_algorithm(window, 3, np.dtype(np.float64), "cpu")
    expected = conv.correlation_grad_input if by_correlation else conv.col2im_grad_input
    assert algorithm.grad_input is expected


# -- every path computes what the plain one does ---------------------------------------------
def test_winograd_forward_and_gradients_equal_the_plain_path(monkeypatch):
    x, W, b = _random((2, 3, 7, 6), (4, 3, 3, 3), (4,))
    *plain, algorithm = _forward_and_grads(x, W, b, activation="tanh")
    assert algorithm == PLAIN._replace(grad_input=conv.correlation_grad_input)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "F2_MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_TILES", 1)
    *fast, algorithm = _forward_and_grads(x, W, b, activation="tanh")
    assert algorithm.forward is conv.winograd_forward  # gx's correlation runs it too
    for got, expected in zip(fast, plain):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("images_per_block", [0, 2])  # 0: bands of output rows of one image
@pytest.mark.parametrize("stride", [1, 2])
def test_blocked_paths_equal_the_plain_path(device, monkeypatch, images_per_block, stride):
    x, W, b = _random((3, 4, 9, 8), (2, 4, 3, 3), (2,), seed=1)
    *plain, algorithm = _forward_and_grads(x, W, b, stride, activation="relu")
    assert algorithm.forward is PLAIN.forward
    window = _window(x.shape, 3, stride)
    image_bytes = window.oh * window.ow * 3 * 3 * 4 * 8  # one image's float64 columns
    budget = images_per_block * image_bytes or image_bytes // 3
    for name in ("COL_CHUNK_BYTES", "GPU_COL_CHUNK_BYTES"):
        monkeypatch.setattr(conv, name, budget)
    monkeypatch.setattr(conv, "MIN_BLOCK_PIXELS", 1)
    *blocked, algorithm = _forward_and_grads(x, W, b, stride, activation="relu")
    assert algorithm.forward is BLOCKED.forward and algorithm.grad_weights is BLOCKED.grad_weights
    if stride == 2:
        assert algorithm.grad_input is BLOCKED.grad_input
    sizes = [(stop - start, oy1 - oy0)
             for start, stop, (oy0, oy1) in conv.blocks(window, np.zeros((3, 11, 10, 4)))]
    if images_per_block:
        assert sizes == [(2, window.oh), (1, window.oh)]
    else:
        assert {n for n, _ in sizes} == {1} and max(rows for _, rows in sizes) < window.oh
    for got, expected in zip(blocked, plain):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding, dilation", [(0, 1), (1, 1), (2, 1), (2, 2), ((0, 2), 1)])
def test_input_gradient_by_correlation_equals_col2im(device, padding, dilation):
    x, W = _random((2, 3, 8, 7), (5, 3, 3, 3), seed=2)
    window = _window(x.shape, 3, 1, padding, dilation)
    w_mat = kernel_matrix(to_device(W))
    gz, = _random((2, window.oh, window.ow, 5), seed=3)
    gz = to_device(gz)
    expected = to_cpu(conv.col2im_grad_input(window, gz, w_mat))
    got = to_cpu(conv.correlation_grad_input(window, gz, w_mat))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_the_plain_path_is_the_definition(device):
    """im2col_forward against the loop, with the bias and the activation inside."""
    x, W, b = _random((2, 3, 6, 5), (4, 3, 2, 3), (4,), seed=4)
    window = _window(x.shape, (2, 3), 1, 1)
    xpad = window.pad(channels_last(to_device(x)))
    out = to_device(np.empty((2, window.oh, window.ow, 4)))
    got = conv.im2col_forward(window, xpad, kernel_matrix(to_device(W)), out, to_device(b),
                              resolve("relu"))
    expected = np.maximum(conv_loop(x, W, b, 1, (1, 1, 1, 1), 1), 0).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(to_cpu(got), expected, rtol=1e-12, atol=1e-12)


# -- the bias: given or not ------------------------------------------------------------------
def test_no_bias_is_a_zero_bias_with_one_gradient_fewer(device):
    x, W, gy = _random((2, 3, 5, 5), (4, 3, 3, 3), (2, 4, 5, 5), seed=5)
    x, W, gy = (to_device(a) for a in (x, W, gy))
    results = []
    for inputs in ((x, W), (x, W, to_device(np.zeros(4)))):
        fn = Conv2d(1, 1)
        y = fn(*(Tensor(a, requires_grad=True) for a in inputs))
        assert fn.has_bias == (len(inputs) == 3)
        results.append((y.data, fn.backward(gy)))
    (y0, grads0), (y1, grads1) = results
    assert len(grads0) == 2 and len(grads1) == 3
    np.testing.assert_array_equal(to_cpu(y0), to_cpu(y1))
    for g0, g1 in zip(grads0, grads1):
        np.testing.assert_array_equal(to_cpu(g0), to_cpu(g1))
    np.testing.assert_allclose(to_cpu(grads1[2]), to_cpu(gy).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_a_bias_that_needs_no_gradient_gets_none():
    x, W, b = _random((1, 2, 4, 4), (3, 2, 3, 3), (3,), seed=6)
    fn = Conv2d(1, 1)
    fn(Tensor(x, requires_grad=True), Tensor(W, requires_grad=True), Tensor(b))
    gx, gW, gb = fn.backward(np.ones((1, 3, 4, 4)))
    assert gx is not None and gW is not None and gb is None


def test_conv2d_holds_an_activation_function():
    x, W = _random((1, 2, 4, 4), (3, 2, 3, 3), seed=7)
    t = Tensor(x, requires_grad=True)
    assert conv2d(t, W, activation="LeakyReLU", alpha=0.3).creator.activation == \
        resolve("leakyrelu", 0.3)
    plain = conv2d(t, W)
    assert plain.creator.activation is IDENTITY and plain.creator.y_l is None  # nothing kept


# -- a residual summed in the output pass (inference) ----------------------------------------
# (kernel, padding, force): each forward path in turn
RESIDUAL_PATHS = [(1, 0, "pointwise"), (3, 1, "plain"), (3, 1, "blocked"), (3, 1, "winograd")]


@pytest.mark.parametrize("kernel, padding, force", RESIDUAL_PATHS)
def test_a_residual_is_summed_before_the_activation_on_every_path(device, monkeypatch, kernel,
                                                                   padding, force):
    if force == "blocked":
        monkeypatch.setattr(conv, "COL_CHUNK_BYTES", 2000)
        monkeypatch.setattr(conv, "GPU_COL_CHUNK_BYTES", 2000)
        monkeypatch.setattr(conv, "MIN_BLOCK_PIXELS", 1)
    if force == "winograd":
        monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
        monkeypatch.setattr(winograd, "F2_MIN_CHANNELS", 1)
        monkeypatch.setattr(winograd, "MIN_TILES", 1)
    x, W, b = _random((2, 4, 6, 7), (5, 4, kernel, kernel), (5,))
    residual = _random((2, 5, 6, 7), seed=1)[0] * 3
    with no_grad():
        y = conv2d(to_device(x), to_device(W), to_device(b), padding=padding, activation="relu",
                   residual=to_device(residual))
    expected = np.maximum(conv_loop(x, W, b, 1, (padding,) * 4, 1) + residual, 0)
    np.testing.assert_allclose(to_cpu(y.data), expected, rtol=1e-12, atol=1e-12)


def test_a_residual_is_refused_with_gradients_or_of_another_shape():
    x, W, r = _random((1, 2, 4, 4), (3, 2, 1, 1), (1, 3, 4, 4))
    with pytest.raises(ValueError, match="residual= is for inference"):
        conv2d(Tensor(x, requires_grad=True), W, residual=r)
    with no_grad(), pytest.raises(ValueError, match=r"residual of shape \(1, 3, 4, 3\)"):
        conv2d(x, W, residual=r[..., :3])
