"""The depthwise convolution's CPU loops, compiled by numba (the ``jit`` extra; ``minidl.ops.jit``).

The same sums as ``minidl.ops.depthwise`` (see its docstring for the math), written as the plain
loops they are: channels-last arrays, one output pixel at a time, its C sums side by side in the
innermost loop, which the compiler turns into vector multiply-adds. Why compile them at all:
NumPy has no loop that keeps a pixel's C running sums in registers over the 9 taps of a 3x3
kernel, so its best form (one einsum) reads and writes every output once per tap, about 7
multiply-adds per ns per core on this kind of CPU against the 11-14 of a compiled kernel
(oneDNN's, which PyTorch runs).

Shapes: x [N, H, W, C], w [KH, KW, C], y [N, OH, OW, C], all C-contiguous, one dtype (float32 or
float64). ``geometry`` is (sy, sx, pad_top, pad_left, dy, dx): strides, the zero border's top and
left widths, dilations. Taps that fall on the border are skipped: no padded copy is made. Each
loop covers images [n0, n1) and rows [r0, r1) of its output, so that threads (``nogil``) can share
the work (``minidl.ops.depthwise_einsum.run_parts``).
"""

from minidl.ops.jit import helper, kernel


@helper
def _sum_taps(x, w, out, n, h0, v0, dy, dx):
    """out[c] = sum over the taps (i, j) inside the image of x[n, h0 + i*dy, v0 + j*dx, c]
    * w[i, j, c]: the definition, for any kernel size, on the border too."""
    out[:] = 0
    for i in range(w.shape[0]):
        h = h0 + i * dy
        if h < 0 or h >= x.shape[1]:
            continue
        for j in range(w.shape[1]):
            v = v0 + j * dx
            if v < 0 or v >= x.shape[2]:
                continue
            x_ij, w_ij = x[n, h, v], w[i, j]
            for c in range(out.shape[0]):
                out[c] += x_ij[c] * w_ij[c]


@helper
def _sum_taps_3x3(x, w, out, n, h, v, dy, dx):
    """``_sum_taps`` for a 3x3 kernel whose taps all lie inside the image (the fast path): the
    nine products of each channel summed in registers, one write of the output."""
    x0, x1, x2 = x[n, h, v], x[n, h, v + dx], x[n, h, v + 2 * dx]
    x3, x4, x5 = x[n, h + dy, v], x[n, h + dy, v + dx], x[n, h + dy, v + 2 * dx]
    x6, x7 = x[n, h + 2 * dy, v], x[n, h + 2 * dy, v + dx]
    x8 = x[n, h + 2 * dy, v + 2 * dx]
    w0, w1, w2, w3, w4 = w[0, 0], w[0, 1], w[0, 2], w[1, 0], w[1, 1]
    w5, w6, w7, w8 = w[1, 2], w[2, 0], w[2, 1], w[2, 2]
    for c in range(out.shape[0]):
        out[c] = (x0[c] * w0[c] + x1[c] * w1[c] + x2[c] * w2[c] + x3[c] * w3[c]
                  + x4[c] * w4[c] + x5[c] * w5[c] + x6[c] * w6[c] + x7[c] * w7[c]
                  + x8[c] * w8[c])


@kernel
def correlate(x, w, y, geometry, n0, n1, r0, r1):
    """y[n, oh, ow] = sum over taps of x[n, oh*sy + i*dy - pad_top, ow*sx + j*dx - pad_left]
    * w[i, j] (``depthwise.correlate_taps`` without the padded copy)."""
    sy, sx, pad_top, pad_left, dy, dx = geometry
    fast = w.shape[0] == 3 and w.shape[1] == 3
    for n in range(n0, n1):
        for oh in range(r0, r1):
            h0 = oh * sy - pad_top
            rows_inside = fast and h0 >= 0 and h0 + 2 * dy < x.shape[1]
            for ow in range(y.shape[2]):
                v0 = ow * sx - pad_left
                if rows_inside and v0 >= 0 and v0 + 2 * dx < x.shape[2]:
                    _sum_taps_3x3(x, w, y[n, oh, ow], n, h0, v0, dy, dx)
                else:
                    _sum_taps(x, w, y[n, oh, ow], n, h0, v0, dy, dx)


@kernel
def input_gradient(gy, w, gx, geometry, n0, n1, r0, r1):
    """gx[n, h, v] = sum over the taps (i, j) and outputs (oh, ow) with oh*sy + i*dy - pad_top
    = h and ow*sx + j*dx - pad_left = v of gy[n, oh, ow] * w[i, j]: each input pixel gathers
    what the taps that read it send back, for any stride (rows [r0, r1) are rows of gx)."""
    sy, sx, pad_top, pad_left, dy, dx = geometry
    oh_end, ow_end = gy.shape[1], gy.shape[2]
    for n in range(n0, n1):
        for h in range(r0, r1):
            for v in range(gx.shape[2]):
                out = gx[n, h, v]
                out[:] = 0
                for i in range(w.shape[0]):
                    t = h + pad_top - i * dy
                    if t < 0 or t % sy or t // sy >= oh_end:
                        continue
                    for j in range(w.shape[1]):
                        u = v + pad_left - j * dx
                        if u < 0 or u % sx or u // sx >= ow_end:
                            continue
                        gy_ij, w_ij = gy[n, t // sy, u // sx], w[i, j]
                        for c in range(out.shape[0]):
                            out[c] += gy_ij[c] * w_ij[c]


@kernel
def weight_gradient(x, gy, gw, geometry, n0, n1, r0, r1):
    """gw[i, j] = sum over images [n0, n1), output rows [r0, r1) and columns of
    x[n, oh*sy + i*dy - pad_top, ow*sx + j*dx - pad_left] * gy[n, oh, ow] (taps inside)."""
    sy, sx, pad_top, pad_left, dy, dx = geometry
    gw[:] = 0
    for n in range(n0, n1):
        for oh in range(r0, r1):
            for ow in range(gy.shape[2]):
                g = gy[n, oh, ow]
                for i in range(gw.shape[0]):
                    h = oh * sy + i * dy - pad_top
                    if h < 0 or h >= x.shape[1]:
                        continue
                    for j in range(gw.shape[1]):
                        v = ow * sx + j * dx - pad_left
                        if v < 0 or v >= x.shape[2]:
                            continue
                        x_ij, gw_ij = x[n, h, v], gw[i, j]
                        for c in range(g.shape[0]):
                            gw_ij[c] += x_ij[c] * g[c]
