"""Each CUDA kernel (minidl.ops.cuda) against the NumPy implementation it stands in for.

Every test runs twice: on the real GPU through CuPy (marked ``gpu``, skipped without a CUDA
device) and on the CPU with the kernels compiled by g++ (``cuda_emulator``), which checks the
kernels' index arithmetic and the Python wrappers on any machine with a C++ compiler.
The truth is always the CPU code path of minidl.ops (itself tested against loops, PyTorch and
numerical gradients), run on the same NumPy inputs.
"""

import numpy as np
import pytest

from minidl.autograd import Tensor
from minidl.backend import gpu_available
from minidl.ops import activation, avg_pool2d, max_pool2d, softmax, softmax_cross_entropy
from minidl.ops import cuda
from minidl.ops.window import Window, channels_first, channels_last
from minidl.ops.activations import resolve

from emulated_gpu.kernels import GXX, Emulator


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if GXX is None:
        pytest.skip("g++ is not installed")
    return Emulator(str(tmp_path_factory.mktemp("cuda_emulator")))


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA device")])])
def xp(request, monkeypatch):
    """The array module the kernels run on: NumPy (emulated kernels) or CuPy (the GPU)."""
    if request.param == "emulated":
        request.getfixturevalue("emulator").install(monkeypatch)
        return np
    import cupy
    return cupy


def host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def random(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def grads(f, x, gy):
    """(f(x), gradient of sum(f(x) * gy) w.r.t. x) on the CPU, through autograd."""
    t = Tensor(x, requires_grad=True)
    y = f(t)
    y.backward(gy)
    return y.data, t.grad


# (input NCHW shape, kernel, stride, padding, dilation, mode)
CONV_GEOMETRIES = [
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1), "truncate"),
    ((2, 4, 9, 8), (3, 2), (2, 3), (1, 0), (1, 1), "truncate"),
    ((1, 2, 10, 9), (3, 3), (1, 2), (0, 0), (2, 1), "truncate"),
    ((2, 5, 8, 7), (4, 3), (3, 2), (0, 0), (1, 1), "same"),
    ((1, 3, 9, 10), (2, 3), (1, 1), (0, 1), (1, 2), "truncate"),  # dilated along x
    ((2, 40, 5, 6), (3, 3), (1, 1), (1, 1), (1, 1), "truncate"),  # a kernel row > 32 numbers
]


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_matches_window(xp, geometry, dtype):
    shape, kernel, stride, padding, dilation, mode = geometry
    window = Window("conv2d", shape, kernel, stride, padding, dilation, mode)
    xpad = window.pad(channels_last(random(shape, dtype)))
    expected = window.im2col(xpad)
    got = cuda.im2col(window, xp.asarray(xpad))
    assert got.shape == expected.shape and got.dtype == dtype
    np.testing.assert_array_equal(host(got), expected)  # a copy: exactly equal


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
def test_im2col_rows_and_out_buffer(xp, geometry):
    """A band of output rows, written into a caller's buffer (how conv2d uses it)."""
    shape, kernel, stride, padding, dilation, mode = geometry
    window = Window("conv2d", shape, kernel, stride, padding, dilation, mode)
    xpad = window.pad(channels_last(random(shape)))
    rows = (window.oh // 2, window.oh)  # the lower half: oy0 > 0
    expected = window.im2col(xpad[-1:], rows)
    out = xp.zeros(expected.shape, dtype=np.float32)
    got = cuda.im2col(window, xp.asarray(xpad)[-1:], rows, out=out)
    assert got is out
    np.testing.assert_array_equal(host(out), expected)


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_matches_window(xp, geometry, dtype):
    shape, kernel, stride, padding, dilation, mode = geometry
    window = Window("conv2d", shape, kernel, stride, padding, dilation, mode)
    col = random((shape[0], window.oh, window.ow, *kernel, shape[1]), dtype, seed=1)
    expected = window.col2im(col)
    got = cuda.col2im(window, xp.asarray(col))
    assert got.shape == expected.shape
    np.testing.assert_allclose(host(got), expected, **tolerance(dtype))


def test_col2im_is_the_adjoint_of_im2col(xp):
    """<im2col(x), c> == <x, col2im(c)> for any x, c: the defining property of an adjoint."""
    shape, kernel, stride, padding, dilation, mode = CONV_GEOMETRIES[1]
    window = Window("conv2d", shape, kernel, stride, padding, dilation, mode)
    xpad = random((shape[0], *window.padded_size, shape[1]), np.float64)
    col = random((shape[0], window.oh, window.ow, *kernel, shape[1]), np.float64, seed=2)
    lhs = float((host(cuda.im2col(window, xp.asarray(xpad))) * col).sum())
    rhs = float((xpad * host(cuda.col2im(window, xp.asarray(col)))).sum())
    assert lhs == pytest.approx(rhs, rel=1e-12)


# (input NCHW shape, kernel, stride, padding, mode)
POOL_GEOMETRIES = [
    ((2, 3, 8, 8), 2, 2, 0, "truncate"),
    ((2, 4, 7, 9), 3, 2, 1, "truncate"),   # overlapping windows with a border
    ((1, 5, 7, 6), 3, 1, 0, "same"),       # uneven Same padding (extra row at the bottom)
    ((2, 2, 6, 7), (2, 3), (1, 2), (1, 1), "truncate"),
]


def _pool_window(op, shape, kernel, stride, padding, mode):
    return Window(op, shape, kernel, stride, padding, 1, mode)


@pytest.mark.parametrize("geometry", POOL_GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_forward_and_backward(xp, geometry, dtype):
    shape, kernel, stride, padding, mode = geometry
    x = random(shape, dtype)
    window = _pool_window("max_pool2d", shape, kernel, stride, padding, mode)
    gy = random((shape[0], shape[1], window.oh, window.ow), dtype, seed=3)
    y, gx = grads(lambda t: max_pool2d(t, kernel, stride, padding, mode), x, gy)
    y_l, argmax = cuda.max_pool_forward(window, xp.asarray(channels_last(x)))
    np.testing.assert_array_equal(host(channels_first(y_l)), y)
    gx_l = cuda.max_pool_backward(window, xp.asarray(channels_last(gy)), argmax)
    np.testing.assert_allclose(host(channels_first(gx_l)), gx, **tolerance(dtype))


def test_max_pool_ties_go_to_the_first_tap(xp):
    """Integer-valued inputs tie often; the gradient must go where the CPU sends it."""
    shape = (2, 3, 6, 6)
    x = np.random.default_rng(4).integers(0, 3, shape).astype(np.float32)
    window = _pool_window("max_pool2d", shape, 3, 1, 1, "truncate")
    gy = random((2, 3, window.oh, window.ow), seed=5)
    _, gx = grads(lambda t: max_pool2d(t, 3, 1, 1), x, gy)
    _, argmax = cuda.max_pool_forward(window, xp.asarray(channels_last(x)))
    gx_l = cuda.max_pool_backward(window, xp.asarray(channels_last(gy)), argmax)
    np.testing.assert_allclose(host(channels_first(gx_l)), gx, rtol=1e-6)


def test_max_pool_without_argmax(xp):
    shape = (1, 2, 4, 4)
    x = random(shape)
    window = _pool_window("max_pool2d", shape, 2, 2, 0, "truncate")
    y_l, argmax = cuda.max_pool_forward(window, xp.asarray(channels_last(x)), keep_argmax=False)
    assert argmax is None
    expected = x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))  # 2x2 blocks by reshaping
    np.testing.assert_array_equal(host(channels_first(y_l)), expected)


@pytest.mark.parametrize("geometry", POOL_GEOMETRIES)
@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool_forward_and_backward(xp, geometry, include_pad):
    shape, kernel, stride, padding, mode = geometry
    x = random(shape, np.float64)
    window = _pool_window("avg_pool2d", shape, kernel, stride, padding, mode)
    gy = random((shape[0], shape[1], window.oh, window.ow), np.float64, seed=6)
    y, gx = grads(lambda t: avg_pool2d(t, kernel, stride, padding, mode, include_pad), x, gy)
    y_l = cuda.avg_pool_forward(window, xp.asarray(channels_last(x)), include_pad)
    np.testing.assert_allclose(host(channels_first(y_l)), y, rtol=1e-12)
    gx_l = cuda.avg_pool_backward(window, xp.asarray(channels_last(gy)), include_pad)
    np.testing.assert_allclose(host(channels_first(gx_l)), gx, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["identity", "relu", "sigmoid", "tanh", "leakyrelu", "elu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_activation(xp, name, dtype):
    z, b = random((6, 5), dtype), random((5,), dtype, seed=7)
    gy = random((6, 5), dtype, seed=8)
    y, gz = grads(lambda t: activation(t + Tensor(b), name), z, gy)
    alpha = resolve(name).alpha  # DL4J's default, as the ops pass it
    got_y = cuda.bias_activation_forward(xp.asarray(z), xp.asarray(b), name, alpha)
    np.testing.assert_allclose(host(got_y), y, **tolerance(dtype))
    got_gz = cuda.bias_activation_backward(got_y, xp.asarray(gy), name, alpha)
    np.testing.assert_allclose(host(got_gz), gz, **tolerance(dtype))


def test_bias_activation_channels_last_without_bias_in_place(xp):
    """A conv output [N, OH, OW, C]: the bias runs along the last axis; out may be z."""
    z, b = random((2, 3, 4, 5)), random((5,), seed=9)
    expected = np.maximum(z + b, 0)
    zd = xp.asarray(z)
    got = cuda.bias_activation_forward(zd, xp.asarray(b), "RELU", out=zd)
    assert got is zd
    np.testing.assert_allclose(host(zd), expected, rtol=1e-6)
    np.testing.assert_allclose(host(cuda.bias_activation_forward(xp.asarray(z), None, "tanh")),
                               np.tanh(z), rtol=1e-5, atol=1e-6)


def test_bias_activation_alpha(xp):
    z = np.array([[-2.0, -0.5, 0.5]])
    got = cuda.bias_activation_forward(xp.asarray(z), None, "leakyrelu", alpha=0.2)
    np.testing.assert_allclose(host(got), [[-0.4, -0.1, 0.5]])


def test_bias_activation_unknown_name(xp):
    with pytest.raises(ValueError, match="softplus"):
        cuda.bias_activation_forward(xp.asarray(np.zeros((1, 2))), None, "softplus")


@pytest.mark.parametrize("shape", [(4, 5), (3, 1000), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax(xp, shape, dtype):
    z = 5 * random(shape, dtype)
    gy = random(shape, dtype, seed=10)
    p, gz = grads(softmax, z, gy)
    got_p = cuda.softmax(xp.asarray(z))
    np.testing.assert_allclose(host(got_p), p, **tolerance(dtype))
    got_gz = cuda.softmax_backward(got_p, xp.asarray(gy))
    np.testing.assert_allclose(host(got_gz), gz, **tolerance(dtype))


@pytest.mark.parametrize("shape", [(4, 5), (3, 1000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy(xp, shape, dtype):
    rng = np.random.default_rng(11)
    z = 10 * random(shape, dtype)  # large logits: the stable path matters
    labels = np.eye(shape[1], dtype=dtype)[rng.integers(0, shape[1], shape[0])]
    labels[0] = rng.dirichlet(np.ones(shape[1])).astype(dtype)  # one soft label row
    t = Tensor(z, requires_grad=True)
    loss = softmax_cross_entropy(t, Tensor(labels))
    loss.backward(np.asarray(2.5, dtype=dtype))  # an upstream gradient other than 1
    got_loss, p = cuda.softmax_cross_entropy_forward(xp.asarray(z), xp.asarray(labels))
    assert got_loss.shape == () and got_loss.dtype == dtype
    np.testing.assert_allclose(float(host(got_loss)), float(loss.data), **tolerance(dtype))
    got_gz = cuda.softmax_cross_entropy_backward(p, xp.asarray(labels), 2.5)
    np.testing.assert_allclose(host(got_gz), t.grad, **tolerance(dtype))


def test_non_contiguous_inputs_are_copied(xp):
    """Kernels ignore strides; the wrappers must pass contiguous arrays (a transposed z here)."""
    z = random((5, 4)).T  # [4, 5], Fortran-ordered
    got = cuda.softmax(xp.asarray(z))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(host(got), e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_integer_arrays_are_refused(xp):
    with pytest.raises(TypeError, match="float32 or float64"):
        cuda.softmax(xp.asarray(np.zeros((2, 2), dtype=np.int32)))


# -- the ops' GPU branches (window.py, conv.py, activations.py, losses.py) -------------------
def _take_gpu_branches(request, xp):
    """On the emulator, make the ops' ``is_gpu_array`` checks true so their CUDA branches run
    (and conv's ``device_of``, which picks its paths and budgets, say "gpu")."""
    if xp is np:
        from minidl.ops import activations, conv, losses, pooling, window
        monkeypatch = request.getfixturevalue("monkeypatch")
        for module in (window, activations, losses, pooling):
            monkeypatch.setattr(module, "is_gpu_array", lambda a: True)
        monkeypatch.setattr(conv, "device_of", lambda a: "gpu")


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0)])  # gx by correlation / by col2im
def test_conv2d_on_the_kernels(request, xp, stride, padding):
    from minidl.ops import conv2d
    x, W, b = random((2, 3, 9, 8), np.float64), random((4, 3, 3, 3), np.float64, 1), \
        random((4,), np.float64, 2)
    probe = conv2d(x, W, b, stride, padding).data
    gy = random(probe.shape, np.float64, 3)
    expected = grads(lambda t: conv2d(t, Tensor(W), Tensor(b), stride, padding), x, gy)
    _take_gpu_branches(request, xp)
    xt, Wt = Tensor(xp.asarray(x), requires_grad=True), Tensor(xp.asarray(W), requires_grad=True)
    y = conv2d(xt, Wt, Tensor(xp.asarray(b)), stride, padding)
    y.backward(xp.asarray(gy))
    np.testing.assert_allclose(host(y.data), expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(xt.grad), expected[1], rtol=1e-12, atol=1e-12)
    _, gW = grads(lambda t: conv2d(Tensor(x), t, Tensor(b), stride, padding), W, gy)
    np.testing.assert_allclose(host(Wt.grad), gW, rtol=1e-12, atol=1e-12)


def test_softmax_and_cross_entropy_ops_on_the_kernels(request, xp):
    z = random((4, 6), np.float64)
    labels = np.eye(6)[[0, 3, 5, 1]]
    p_ref, gz_ref = grads(lambda t: softmax_cross_entropy(t, Tensor(labels)), z, np.asarray(1.0))
    s_ref, gs_ref = grads(softmax, z, labels)
    _take_gpu_branches(request, xp)
    loss, gz = grads(lambda t: softmax_cross_entropy(t, Tensor(xp.asarray(labels))),
                     xp.asarray(z), xp.asarray(1.0))
    np.testing.assert_allclose(float(host(loss)), float(p_ref), rtol=1e-12)
    np.testing.assert_allclose(host(gz), gz_ref, rtol=1e-12, atol=1e-15)
    s, gs = grads(softmax, xp.asarray(z), xp.asarray(labels))
    np.testing.assert_allclose(host(s), s_ref, rtol=1e-12)
    np.testing.assert_allclose(host(gs), gs_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_ops_on_the_kernels(request, xp, pool):
    op = max_pool2d if pool == "max" else avg_pool2d
    x = random((2, 3, 7, 7), np.float64)
    gy = random((2, 3, 4, 4), np.float64, 1)
    expected = grads(lambda t: op(t, 3, 2, 1), x, gy)
    _take_gpu_branches(request, xp)
    got = grads(lambda t: op(t, 3, 2, 1), xp.asarray(x), xp.asarray(gy))
    np.testing.assert_allclose(host(got[0]), expected[0], rtol=1e-12)
    np.testing.assert_allclose(host(got[1]), expected[1], rtol=1e-12, atol=1e-15)


# -- updaters.cu: each updater's fused step against its NumPy formula, to the bit --------------
def _updaters():
    from minidl.learning import AdaGrad, Adam, Nesterovs, RmsProp, Sgd
    return [Sgd(0.05), Nesterovs(0.05, 0.9), Adam(2e-3, 0.8, 0.95, 1e-3), RmsProp(0.01, 0.9),
            AdaGrad(0.1, 1e-4)]


@pytest.mark.parametrize("updater", _updaters(), ids=lambda u: type(u).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_updater_steps_match_numpy_bit_for_bit(xp, updater, dtype):
    """Five steps of updater.kernel against ``w -= updater.apply(...)`` on NumPy: the kernel
    makes the same roundings in the same order (no fused multiply-adds), so the weights and the
    state arrays are equal exactly, not only close. Gradients span magnitudes around epsilon,
    where a reordering of Adam's or RmsProp's terms would show; the weights start near 0, so
    that the last bits of every update show in them."""
    shape = (37, 5)  # more elements than one block's threads would see in one pass: 185
    w = random(shape, dtype, 1) * dtype(1e-4)
    state = updater.init_state(shape, dtype)
    w_gpu = xp.array(w)  # copies (on the emulator xp is NumPy itself)
    state_gpu = {name: xp.array(a) for name, a in state.items()}
    for iteration in range(5):
        g = random(shape, dtype, 10 + iteration) * np.logspace(-5, 1, shape[1]).astype(dtype)
        w -= updater.apply(g, state, iteration).astype(dtype, copy=False)
        cuda.updater_step(updater.kernel, w_gpu, xp.asarray(g),
                          [state_gpu[name] for name in updater.state_names],
                          updater.kernel_scalars(iteration))
        np.testing.assert_array_equal(host(w_gpu), w)
        for name in updater.state_names:
            np.testing.assert_array_equal(host(state_gpu[name]), state[name])


def test_a_fused_step_refuses_a_non_contiguous_parameter(xp):
    """The weights are written in place: a strided view cannot be copied and handed over."""
    w = xp.asarray(random((4, 6)))[:, ::2]
    with pytest.raises(ValueError, match=r"sgd_step: expected contiguous float32 arrays"):
        cuda.updater_step("sgd_step", w, w, [], (0.1,))
