"""Zero padding of NCHW feature maps: a border of zeros around each image.

Forward: [N, C, H, W] -> [N, C, top + H + bottom, left + W + right], the input in the middle.
Backward: the border's zeros depend on nothing, so the input's gradient is the interior of the
output's gradient, a slice.

The padded array is written channels-last (``Window.pad``, the same border the window ops put
around their own inputs) and returned as an NCHW-shaped view, the layout every window op reads
for free (see ``minidl.ops.window``): a pad -> conv chain never changes layout. Only the
array module of the input is used, so CuPy arrays pad on the GPU.
"""

import numpy as np

from minidl.autograd import Function
from minidl.ops._checks import require_float, require_ndim
from minidl.ops.window import Window, channels_first, channels_last


def padding4(padding, name="padding"):
    """(top, bottom, left, right) from DL4J's forms: an int (all four), a (vertical,
    horizontal) pair, or four values; negative values are refused."""
    if isinstance(padding, (int, np.integer)):
        padding = (padding,)
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        padding *= 4
    elif len(padding) == 2:
        padding = (padding[0], padding[0], padding[1], padding[1])
    if len(padding) != 4 or min(padding) < 0:
        raise ValueError(f"{name} must be one, two (vertical, horizontal) or four (top, bottom, "
                         f"left, right) non-negative ints, got {padding}")
    return padding


class ZeroPad2d(Function):
    """[N, C, H, W] -> [N, C, top + H + bottom, left + W + right], zeros around the input."""

    def __init__(self, padding):
        self.padding = padding4(padding)

    def forward(self, x):
        require_float("zero_pad2d", "the input", x)
        require_ndim("zero_pad2d", "the input", x, 4, "[batch, channels, height, width]")
        top, bottom, left, right = self.padding
        n, c, h, w = x.shape
        # A 1x1 window over the padded input is the identity on it: its geometry is the border.
        self.window = Window.explicit("zero_pad2d", x.shape, (1, 1), (1, 1), (1, 1),
                                      self.padding, (top + h + bottom, left + w + right))
        return channels_first(self.window.pad(channels_last(x), 0))

    def backward(self, gy):
        return channels_first(self.window.interior(channels_last(gy)))


def zero_pad2d(x, padding):
    """Zero-pad NCHW ``x`` by ``padding``: an int, (vertical, horizontal) or (top, bottom, left,
    right); see ``ZeroPad2d``."""
    return ZeroPad2d(padding)(x)
