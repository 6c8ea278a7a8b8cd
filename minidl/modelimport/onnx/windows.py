"""ONNX's padding of sliding windows (Conv, MaxPool, AveragePool) in DL4J's terms.

ONNX gives ``pads`` [top, left, bottom, right] (any four values) or ``auto_pad``; DL4J's layers
take one symmetric (vertical, horizontal) padding in Truncate mode, or compute "same" padding
themselves (ConvolutionMode.Same: the odd row or column at the bottom/right, ONNX's
SAME_UPPER and TensorFlow's SAME). ``window_padding`` picks the DL4J form that computes the
same thing: symmetric -> Truncate with that padding; the split Same mode would choose -> Same;
anything else -> (top, bottom, left, right) for a ZeroPaddingLayer in front, where zeros are
what the op pads with.
"""

import math


def _same_split(size, kernel, stride, dilation):
    """(before, after) that DL4J's Same mode (and SAME_UPPER) pads along one axis."""
    k_eff = dilation * (kernel - 1) + 1
    total = max(0, (math.ceil(size / stride) - 1) * stride + k_eff - size)
    return total // 2, total - total // 2


def onnx_pads(attrs, in_hw, kernel, strides, dilations):
    """(top, left, bottom, right) from ``pads`` or ``auto_pad`` for an input of ``in_hw``."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        splits = [_same_split(s, k, st, d) for s, k, st, d in zip(in_hw, kernel, strides,
                                                                  dilations)]
        if auto == "SAME_LOWER":
            splits = [(after, before) for before, after in splits]
        return splits[0][0], splits[1][0], splits[0][1], splits[1][1]
    if auto == "VALID":
        return 0, 0, 0, 0
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    return tuple(int(p) for p in pads)


def window_padding(pads, in_hw, kernel, strides, dilations):
    """("truncate", (pad_h, pad_w)), ("same", (0, 0)) or ("explicit", (top, bottom, left,
    right)): how a DL4J layer reproduces ONNX ``pads`` (see the module docstring)."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return "truncate", (top, left)
    same = [_same_split(s, k, st, d) for s, k, st, d in zip(in_hw, kernel, strides, dilations)]
    if same == [(top, bottom), (left, right)]:
        return "same", (0, 0)
    return "explicit", (top, bottom, left, right)


def window_settings(g, node, attrs, in_shape):
    """(kernel, strides, dilations, pads) of a Conv / pooling node on per-example
    ``in_shape`` [C, H, W]; refuses anything but 2-d windows."""
    if len(in_shape) != 3:
        g.fail(node, f"expects a 4-d input [batch, channels, height, width], got per-example "
                     f"shape {in_shape}")
    kernel = tuple(int(k) for k in attrs["kernel_shape"])
    if len(kernel) != 2:
        g.fail(node, f"only 2-d windows are supported, got kernel_shape {list(kernel)}")
    strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    pads = onnx_pads(attrs, in_shape[1:], kernel, strides, dilations)
    return kernel, strides, dilations, pads
