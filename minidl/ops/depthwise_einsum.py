"""The depthwise convolution's CPU fast path in NumPy: einsums over windows views.

``minidl.ops.depthwise`` has the math and the op; this module computes its sums with NumPy
alone, the path that runs without numba (with numba, ``minidl.ops.depthwise_jit`` runs instead,
its work split over the threads by ``run_parts`` below). Arrays are channels-last: x
[N, H, W, C], w [KH, KW, C], y and gy [N, OH, OW, C].

``correlate`` computes ``depthwise.correlate_taps``'s sums with one ``einsum`` over a windows view
of the input (as ``Window.windows``: no copy), whose C loop keeps each output's running sum in a
register instead of reading and writing the whole output once per tap: about 2.5x faster on
MobileNetV2's [8, 144, 56, 56] 3x3 layer. At stride 1 on a channels-last input, the pixels and
channels one kernel row meets are one contiguous run, so the einsum sums whole output rows of
OW*C numbers against the weights tiled along the row (``_einsum_block``): a longer inner loop,
2.7x faster on [1, 32, 112, 112]. The weight gradient is an einsum the same way (along whole
rows too at stride 1, one partial gW per output column, added up after), the input gradient at
stride 1 the forward's path again (``depthwise.input_gradient``), and at larger strides one
correlation per stride phase of gx (``phase_gradient``: each gx pixel written once instead of a
scatter of every tap, which remains for dilated strided kernels, ``scatter_taps``). Two more
savings:

- at strides above 1, no padded copy of a large input: the output is cut into the block whose
  windows lie inside the image, read in place, and thin blocks along the border, which copy
  the little they read (``_grid``, ``_windows``); a small image (and any image whose rows the
  einsum sums whole) is padded, in the thread that reads it, a few images at a time so that
  the copy is still in cache when the einsum reads it (``RUN_BYTES``);
- the work is split over the CPU threads by images, or by bands of output rows when there are
  fewer images than threads (``run_parts``); bias and activation are applied to each block
  while it is in cache.
"""

import numpy as np

from minidl.ops import _memory, _parallel, activations
from minidl.ops.window import Window

OP = "depthwise_conv2d"


# Output positions per image from which the border is worth splitting off (``_grid``): below
# it, the eight extra einsum calls and copies cost more than padding the image. Measured on
# MobileNetV2's stride-2 layers, batch 8, 2 cores: splitting is 1.2x faster at 56x56 outputs,
# 1.1-1.25x at 28x28 ([8, 144, 56, 56]: 2.1-2.5 -> 1.6-2.2 ms), and 1.5x slower at 14x14 and
# 7x7. (Stride-1 layers on channels-last inputs never split: see ``correlate``.)
GRID_MIN_POSITIONS = 28 * 28


# Outputs (N*OH*OW*C) below which one thread does all the blocks: handing blocks to the pool
# costs tens of microseconds, and far more on a loaded machine, while such a layer (MobileNetV2's
# 7x7 and 14x14 ones at batch 1) computes in about that time.
PARALLEL_OUTPUTS = 2**16


def _inside(lo_pad, size, span, stride, n_out):
    """[first, last) output positions along one axis whose windows lie inside the input, not
    on its border: the window of output o covers input o * stride - lo_pad ... + span."""
    first = min(-(-lo_pad // stride), n_out)  # ceil(lo_pad / stride)
    last = (size - 1 - span + lo_pad) // stride + 1
    return first, min(max(last, first), n_out)


def _grid(window, rows, split_border=True):
    """The blocks (rows, cols) that cover output rows ``rows`` (a slice) and every column: the
    windows of the middle one lie inside the image, the eight thin ones around it cross the
    border (padding 1 leaves one row or column of them on each side). Small images are one
    block, whose windows view is then of a padded copy (see ``GRID_MIN_POSITIONS``), and so is
    every image without ``split_border``."""
    def pieces(lo, hi, n):
        return [(a, b) for a, b in ((0, lo), (lo, hi), (hi, n)) if a < b]

    if not split_border or window.oh * window.ow < GRID_MIN_POSITIONS:
        return [((rows.start, rows.stop), (0, window.ow))]

    r0, r1 = _inside(window.pad_top, window.h, window.dy * (window.kh - 1), window.sy, window.oh)
    c0, c1 = _inside(window.pad_left, window.w, window.dx * (window.kw - 1), window.sx, window.ow)
    row_pieces = [(max(a, rows.start), min(b, rows.stop)) for a, b in pieces(r0, r1, window.oh)]
    return [(r, c) for r in row_pieces if r[0] < r[1] for c in pieces(c0, c1, window.ow)]


def _windows(window, x_l, rows, cols):
    """The windows of output block ``rows`` x ``cols`` ((start, stop) pairs) of channels-last
    ``x_l`` [n, H, W, C], as an [n, rows, cols, KH, KW, C] view: of ``x_l`` itself when they
    lie inside it, else of a small copy of the input they read with zeros for the border."""
    w = window
    top, left = rows[0] * w.sy - w.pad_top, cols[0] * w.sx - w.pad_left
    bottom = (rows[1] - 1) * w.sy + w.dy * (w.kh - 1) + 1 - w.pad_top
    right = (cols[1] - 1) * w.sx + w.dx * (w.kw - 1) + 1 - w.pad_left
    if top >= 0 and left >= 0 and bottom <= w.h and right <= w.w:
        region = x_l[:, top:bottom, left:right]
    else:
        region = np.zeros((x_l.shape[0], bottom - top, right - left, x_l.shape[3]), x_l.dtype)
        t, b, l, r = max(top, 0), min(bottom, w.h), max(left, 0), min(right, w.w)
        if t < b and l < r:
            region[:, t - top:b - top, l - left:r - left] = x_l[:, t:b, l:r]
    s_n, s_h, s_w, s_c = region.strides
    return np.lib.stride_tricks.as_strided(
        region, shape=(region.shape[0], rows[1] - rows[0], cols[1] - cols[0], w.kh, w.kw,
                       region.shape[3]),
        strides=(s_n, s_h * w.sy, s_w * w.sx, s_h * w.dy, s_w * w.dx, s_c))


# Bytes of input that one block reads at most, counted in whole images: a padded copy that
# size stays in the core's cache between its copy and the einsum that reads it, and each tap
# of the einsum reads it again from there. Measured on [8, 144, 56, 56] at stride 1, one
# thread: all four images of a thread in one padded copy 8.1 ms, one or two images at a time
# 5.6 ms; on [8, 960, 7, 7] several images per run keep the einsum calls few.
RUN_BYTES = 4 << 20


def _images_per_run(window, x_l):
    """How many images one block spans: as many as fit ``RUN_BYTES``, at least one."""
    image_bytes = window.h * window.w * x_l.shape[3] * x_l.itemsize
    return max(1, RUN_BYTES // max(image_bytes, 1))


def _each_block(window, x_l, work, split_border=True):
    """Call ``work(windows, images, rows, cols)`` for blocks covering the output, split over the
    CPU threads by images (or by bands of output rows when there are fewer images than
    threads); ``windows`` is the block's windows view (``_windows``), ``images`` a slice,
    ``rows`` and ``cols`` (start, stop) pairs; ``split_border``: see ``_grid``.

    No padded copy of a large input is made: the blocks whose windows lie inside the image
    read it in place, and only the thin blocks along the border copy the few rows or columns
    they read (measured: 4.6 -> 3.6 ms on [8, 144, 56, 56] at stride 2, where the pad copy cost
    as much as the arithmetic). A small image is padded, in the thread that reads it.
    """
    run = _images_per_run(window, x_l)

    def part(images, rows):
        for start in range(images.start, images.stop, run):
            some = slice(start, min(start + run, images.stop))
            for block_rows, block_cols in _grid(window, rows, split_border):
                windows = _windows(window, x_l[some], block_rows, block_cols)
                work(windows, some, block_rows, block_cols)

    run_parts(part, window.n, window.oh, window.n * window.oh * window.ow * x_l.shape[3])


def run_parts(part, n, n_rows, outputs):
    """Call ``part(images, rows)`` (two slices) on pieces that cover an output of n images of
    ``n_rows`` rows, ``outputs`` numbers in all: one piece per CPU thread, cut by images, or by
    bands of rows when there are fewer images than threads; all of it in this thread when it is
    small (``PARALLEL_OUTPUTS``)."""
    if outputs < PARALLEL_OUTPUTS:
        parts = [(slice(0, n), slice(0, n_rows))]
    elif n >= _parallel.THREADS or n_rows < 2:
        parts = [(images, slice(0, n_rows)) for images in _parallel.cuts(n, _parallel.THREADS)]
    else:
        parts = [(slice(0, n), rows) for rows in _parallel.cuts(n_rows, _parallel.THREADS)]
    _parallel.run([lambda p=p: part(*p) for p in parts])


def _block(a, images, rows, cols):
    return a[images, rows[0]:rows[1], cols[0]:cols[1]]


def _row_major(windows):
    """windows [n, rows, cols, KH, KW, C] as [n, rows, KH, KW, cols*C], a view, when the columns
    and channels a kernel row meets lie one after the other in memory (stride 1 along the width,
    a channels-last input); else None."""
    n, rows, cols, kh, kw, c = windows.shape
    s_n, s_h, s_w, s_i, s_j, s_c = windows.strides
    if s_w != c * s_c:
        return None
    return np.lib.stride_tricks.as_strided(windows, (n, rows, kh, kw, cols * c),
                                           (s_n, s_h, s_i, s_j, s_c))


def _as_rows(a):
    """Block ``a`` [n, rows, cols, C] of a channels-last array as [n, rows, cols*C], a view."""
    n, rows, cols, c = a.shape
    return np.lib.stride_tricks.as_strided(a, (n, rows, cols * c), a.strides[:2] + a.strides[3:])


def whole_rows(window, x_l):
    """Whether the einsums can sum whole rows (``_row_major``): stride 1 along the width on a
    channels-last input."""
    return window.sx == 1 and x_l.strides[2] == x_l.shape[3] * x_l.strides[3]


def _einsum_block(windows, w, y, tiled):
    """y [n, rows, cols, C] = the block's sums (einsum over its windows view).

    At stride 1 a window row's pixels and channels are one contiguous run, so the sums are taken
    over whole output rows: "nhijk,ijk->nhk" with k = (column, channel) and the weights tiled
    along the row (``tiled(cols)``). Its inner loop runs over cols*C numbers instead of C, which
    is what makes layers with few channels fast (2.2x on MobileNetV2's [1, 32, 112, 112])."""
    flat = _row_major(windows)
    if flat is None:
        np.einsum("nhwijc,ijc->nhwc", windows, w, out=y)
    else:  # y: a block of the contiguous output, rows of cols*C
        np.einsum("nhijk,ijk->nhk", flat, tiled(y.shape[2]), out=_as_rows(y))


def correlate(window, x_l, w, out, bias=None, activation=None):
    """out [N, OH, OW, C] = f(correlate_taps(window, padded x_l, w) + bias), by einsum over the
    windows views, in parallel. ``x_l`` is the unpadded channels-last input [N, H, W, C];
    ``activation`` is an ``ActivationFunction`` or None; ``out`` is written in place and returned.
    """
    rows_of_w = {}

    def tiled(cols):  # w [KH, KW, C] repeated along an output row: [KH, KW, cols*C]
        if cols not in rows_of_w:
            rows_of_w[cols] = np.tile(w, (1, 1, cols))
        return rows_of_w[cols]

    def work(windows, images, rows, cols):
        y = _block(out, images, rows, cols)
        _einsum_block(windows, w, y, tiled)
        if bias is not None or activation is not None:
            (activation or activations.IDENTITY).apply(y, bias, out=y)

    # Whole output rows are fastest in one block over a padded copy: measured 0.89 -> 0.53 ms
    # on [1, 32, 112, 112], 0.78 -> 0.51 on [1, 144, 56, 56].
    _each_block(window, x_l, work, split_border=not whole_rows(window, x_l))
    return out


def weight_gradient(window, x_l, gy_l):
    """gW [KH, KW, C] = sum over N, OH, OW of tap_ij(padded x_l) * gy, by einsum, in
    parallel.

    At stride 1 the sums run along whole rows as the forward's do (``_einsum_block``), giving
    one gW per output column, [KH, KW, OW*C], which are then added up: measured 4.3 -> 3.7 ms
    on [8, 144, 56, 56], 5.3 -> 3.1 ms on [8, 32, 112, 112]."""
    partial = {}  # one gW per block, added up in a fixed order: the same result every run
    def work(windows, images, rows, cols):
        gy, flat = _block(gy_l, images, rows, cols), _row_major(windows)
        if flat is None:
            g = np.einsum("nhwijc,nhwc->ijc", windows, gy)
        else:
            kh, kw = windows.shape[3:5]
            g = np.einsum("nhijk,nhk->ijk", flat, _as_rows(gy))
            g = g.reshape(kh, kw, gy.shape[2], gy.shape[3]).sum(axis=2)
        partial[images.start, rows, cols] = g

    _each_block(window, x_l, work, split_border=not whole_rows(window, x_l))
    return sum(partial[key] for key in sorted(partial))


def scatter_taps(window, gy_l, w):
    """gxpad [N, Hp, Wp, C]: every tap adds gy * w[i, j] onto the padded pixels it read.

    Taps of neighbouring windows overlap when the stride is smaller than the kernel, so each
    tap adds onto what is there. Image by image (one stays in cache for all its taps), the
    images split over the threads.
    """
    hp, wp = window.padded_size
    gxpad = _memory.zeros((window.n, hp, wp, gy_l.shape[3]), gy_l.dtype)

    def images(part):
        scratch = np.empty_like(gy_l[:1])
        for b in range(part.start, part.stop):
            for i, j in window.taps():
                np.multiply(gy_l[b:b + 1], w[i, j], out=scratch)
                window.tap(gxpad[b:b + 1], i, j)[...] += scratch

    _parallel.run([lambda p=p: images(p) for p in _parallel.cuts(window.n, _parallel.THREADS)])
    return gxpad


# Pixels per image of a stride phase of gx from which ``_phase_sums`` sums whole rows into a
# scratch. Measured at stride 2, 2 cores: 9.7-10.9 -> 7.4-7.5 ms on [8, 96, 112, 112] (56x56
# phases), 1.02 -> 0.77-0.91 ms on [1, 96, 112, 112]; no faster on 28x28 phases.
ROW_PHASE_POSITIONS = 56 * 56


def _phase_sums(windows, w, out):
    """out [n, rows, cols, C] (every stride-th pixel of gx) = the sums over ``windows`` of gy.

    The einsum writes ``out`` pixel by pixel, with an inner loop of C numbers: ``out``'s pixels
    are not adjacent in gx. On large phases (``ROW_PHASE_POSITIONS``) it is faster to sum whole
    rows into a contiguous scratch (``_einsum_block``, inner loops of cols*C numbers) and copy
    that into place."""
    if out.shape[1] * out.shape[2] < ROW_PHASE_POSITIONS:
        np.einsum("nhwijc,ijc->nhwc", windows, w, out=out)
        return
    scratch = np.empty(out.shape, out.dtype)
    _einsum_block(windows, w, scratch, lambda cols: np.tile(w, (1, 1, cols)))
    out[...] = scratch


def phase_gradient(window, gy_l, w, phases=None):
    """gx [N, H, W, C] at a stride above 1, one stride phase at a time: every phase of gx is a
    stride-1 correlation of the zero-bordered gy with some of the kernel's taps, flipped
    (``Window.gradient_phases``), summed by einsum straight into that phase's pixels of gx.

    Against ``scatter_taps``: each gx pixel is written once, by a sum of the taps that meet it,
    instead of read and written once per tap after a zero fill (measured 3.4 -> 2.2 ms on
    [8, 144, 56, 56] at stride 2). Split over the threads by images, or by phases when there
    are fewer images than threads. ``phases``: ``window.gradient_phases()``, if at hand."""
    pads, phases = phases or window.gradient_phases()
    n, oh, ow, c = gy_l.shape
    gy_window = Window.explicit(OP, (n, c, oh, ow), (1, 1), (1, 1), (1, 1), pads, (oh, ow))
    gx = _memory.empty((n, window.h, window.w, c), gy_l.dtype)

    def part(images, some_phases):
        gypad = gy_window.pad(gy_l[images])
        s_n, s_h, s_w, s_c = gypad.strides
        for (h0, rows, row_taps, top), (w0, cols, col_taps, left) in some_phases:
            out = gx[images, h0::window.sy, w0::window.sx]
            if not (row_taps and col_taps):  # pixels no tap reads (stride > kernel)
                out[...] = 0
                continue
            windows = np.lib.stride_tricks.as_strided(
                gypad[:, top:, left:], (gypad.shape[0], rows, cols, len(row_taps),
                                        len(col_taps), c), (s_n, s_h, s_w, s_h, s_w, s_c))
            _phase_sums(windows, w[np.ix_(row_taps, col_taps)], out)

    every = slice(0, n)
    if gx.size < PARALLEL_OUTPUTS:
        tasks = [lambda: part(every, phases)]
    elif n >= _parallel.THREADS:
        tasks = [lambda p=p: part(p, phases) for p in _parallel.cuts(n, _parallel.THREADS)]
    else:
        tasks = [lambda q=q: part(every, phases[q])
                 for q in _parallel.cuts(len(phases), _parallel.THREADS)]
    _parallel.run(tasks)
    return gx
