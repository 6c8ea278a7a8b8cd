"""Window geometry (DL4J modes), im2col/col2im adjointness, channels-last views."""

import numpy as np
import pytest

from minidl.backend import array_module, to_cpu, to_device
from minidl.ops.window import Window, axis_padding, channels_first, channels_last


@pytest.mark.parametrize("size, kernel, stride, pad, dilation, expected", [
    (224, 3, 1, 1, 1, (1, 1, 224)),
    (7, 3, 2, 0, 1, (0, 0, 3)),       # floor((7 - 3) / 2) + 1
    (8, 3, 2, 0, 1, (0, 0, 3)),       # Truncate drops the last column
    (7, 3, 1, 0, 2, (0, 0, 3)),       # effective kernel 5
])
def test_truncate_sizes(size, kernel, stride, pad, dilation, expected):
    assert axis_padding("op", "truncate", size, kernel, stride, pad, dilation, "height") == expected


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (5, 3, 1, (1, 1, 5)), (6, 2, 1, (0, 1, 6)), (7, 3, 2, (1, 1, 4)), (6, 3, 2, (0, 1, 3)),
    (5, 4, 1, (1, 2, 5)),
])
def test_same_mode_splits_padding_with_the_extra_row_after(size, kernel, stride, expected):
    """DL4J's getSameModeTopLeftPadding: top = floor(total / 2); the bottom gets the rest."""
    assert axis_padding("op", "same", size, kernel, stride, 7, 1, "height") == expected


def test_strict_mode_and_bad_geometry_raise():
    with pytest.raises(ValueError, match="Strict"):
        axis_padding("conv2d", "strict", 8, 3, 2, 0, 1, "width")
    assert axis_padding("conv2d", "strict", 7, 3, 2, 0, 1, "width") == (0, 0, 3)
    with pytest.raises(ValueError, match="conv2d: kernel size, stride"):
        axis_padding("conv2d", "truncate", 8, 3, 0, 0, 1, "width")
    with pytest.raises(ValueError, match="unknown convolution mode"):
        Window("conv2d", (1, 1, 4, 4), 3, mode="valid")


def test_col2im_is_the_adjoint_of_im2col(device):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: the defining property of the gradient."""
    rng = np.random.default_rng(0)
    win = Window("op", (2, 3, 7, 6), (3, 2), (2, 1), 1, (2, 1))
    hp, wp = win.padded_size
    x = rng.standard_normal((2, hp, wp, 3))
    col = to_cpu(win.im2col(to_device(x)))
    assert col.shape == (2, win.oh, win.ow, 3, 2, 3)
    c = rng.standard_normal(col.shape)
    np.testing.assert_allclose(np.sum(col * c), np.sum(x * to_cpu(win.col2im(to_device(c)))))


def test_im2col_rows_and_windows_view(device):
    rng = np.random.default_rng(1)
    win = Window("op", (1, 2, 6, 6), 3, 1, 1)
    xpad = win.pad(channels_last(to_device(rng.standard_normal((1, 2, 6, 6)))))
    full = to_cpu(win.im2col(xpad))
    np.testing.assert_array_equal(to_cpu(win.im2col(xpad, rows=(2, 5))), full[:, 2:5])
    # window (oy, ox) = (2, 3) holds padded pixels rows 2..4, cols 3..5
    np.testing.assert_array_equal(full[0, 2, 3], to_cpu(xpad[0, 2:5, 3:6]))


def test_pad_and_channels_last_views(device):
    xp = array_module()
    x = to_device(np.arange(24.0).reshape(1, 2, 3, 4))
    xl = channels_last(x)
    assert xl.shape == (1, 3, 4, 2) and xp.shares_memory(xl, x)
    assert np.array_equal(to_cpu(channels_first(xl)), to_cpu(x))
    win = Window("op", x.shape, 3, 1, (1, 2))
    xpad = win.pad(xl, value=-1.0)
    assert xpad.shape == (1, 5, 8, 2) and xpad.flags.c_contiguous
    host = to_cpu(xpad)
    assert (host[:, 0] == -1).all() and (host[:, :, :2] == -1).all()
    np.testing.assert_array_equal(to_cpu(win.interior(xpad)), to_cpu(xl))


def test_gradient_window_pads_gy_by_the_kernel_span_less_the_forward_padding():
    """A 3x3 kernel with dilation 2 spans 5 pixels: gy is padded by 4 - the forward's padding."""
    win = Window("op", (2, 3, 9, 8), 3, 1, (1, 2), 2)
    assert (win.oh, win.ow) == (7, 8)
    g = win.gradient_window(5)
    assert (g.n, g.c, g.h, g.w) == (2, 5, 7, 8)
    assert (g.pad_top, g.pad_bottom, g.pad_left, g.pad_right) == (3, 3, 2, 2)
    assert (g.kh, g.kw, g.sy, g.sx, g.dy, g.dx) == (3, 3, 1, 1, 2, 2)
    assert (g.oh, g.ow) == (9, 8)  # the size of x
    assert Window("op", (1, 1, 9, 9), 3, 2).gradient_window(1) is None  # stride 2
    assert Window("op", (1, 1, 9, 9), 3, 1, 3).gradient_window(1) is None  # padding > span


def test_gradient_phases_of_a_3x3_stride_2_kernel_by_hand():
    """Padding 1: padded pixel hp = h + 1. Even hp (odd h) meets taps 2 and 0, odd hp (even h)
    tap 1 only. gx[1] (hp 2) = gy[0] W[2] + gy[1] W[0]: padded gy rows 1 and 2 against taps
    [2, 0]. gx[7] (hp 8) would meet gy[4] through tap 0, past gy's 4 rows: one zero row after."""
    (pads, phases) = Window("op", (1, 1, 8, 8), 3, 2, 1).gradient_phases()
    assert pads == (1, 1, 1, 1)
    # (first pixel, pixels, taps in correlation order, start in the padded gy)
    even, odd = (0, 4, [1], 1), (1, 4, [2, 0], 1)
    assert phases == [(even, even), (even, odd), (odd, even), (odd, odd)]


def test_gradient_phases_where_the_stride_outruns_the_kernel_and_with_dilation():
    (_, phases) = Window("op", (1, 1, 6, 6), 1, 3).gradient_phases()
    assert sorted({r[2] == [] for r, _ in phases}) == [False, True]  # pixels no tap reads
    assert Window("op", (1, 1, 9, 9), 3, 2, 1, 2).gradient_phases() is None  # dilation 2


def test_an_explicit_window_keeps_the_geometry_it_is_given():
    win = Window.explicit("op", (1, 2, 5, 6), (3, 2), (1, 2), (2, 1), (0, 1, 2, 3), (4, 5))
    assert (win.op, win.n, win.c, win.h, win.w) == ("op", 1, 2, 5, 6)
    assert (win.kh, win.kw, win.sy, win.sx, win.dy, win.dx) == (3, 2, 1, 2, 2, 1)
    assert (win.pad_top, win.pad_bottom, win.pad_left, win.pad_right) == (0, 1, 2, 3)
    assert (win.oh, win.ow, win.padded_size) == (4, 5, (6, 11))
