"""Keras weight layouts -> minidl's (DESIGN.md §4; reference/modern-cnns.md §3.5).

Keras keeps NHWC activations and channels-last kernels; minidl keeps DL4J's layouts:

* Conv2D kernel (kh, kw, n_in, n_out) -> W [n_out, n_in, kh, kw] (``conv_kernel``);
* DepthwiseConv2D kernel (kh, kw, C, m) -> W as it is (DepthwiseConvolution2D keeps it);
* SeparableConv2D depthwise_kernel (kh, kw, C, m) -> W [m, C, kh, kw] and pointwise_kernel
  (1, 1, C*m, F) -> pW [F, C*m, 1, 1]: ``conv_kernel`` both;
* Dense kernel (n_in, n_out) -> W as it is, except after a Flatten of a feature map: Keras
  flattens (h, w, c), minidl (c, h, w), so the rows are reordered (``chw_rows_from_hwc``).
"""


def conv_kernel(kernel):
    """A Keras conv kernel (kh, kw, n_in, n_out) -> our W [n_out, n_in, kh, kw]."""
    return kernel.transpose(3, 2, 0, 1)


def chw_rows_from_hwc(W, channels, height=None, width=None):
    """Reorder a dense kernel W (n_in, n_out) whose rows follow an (h, w, c) flatten into the
    (c, h, w) order of our flatten. Without ``height``/``width`` the map is taken as square."""
    n_in, n_out = W.shape
    if height is None or width is None:
        height = width = _side(n_in, channels)
    if height * width * channels != n_in:
        raise ValueError(f"a dense kernel of {n_in} inputs does not flatten a {height}x{width}x"
                         f"{channels} feature map")
    return W.reshape(height, width, channels, n_out).transpose(2, 0, 1, 3).reshape(n_in, n_out)


def _side(n_in, channels):
    side = int(round((n_in // max(channels, 1)) ** 0.5))
    if side * side * channels != n_in:
        raise ValueError(f"a dense kernel of {n_in} inputs is not channels x side x side for "
                         f"{channels} channels")
    return side
