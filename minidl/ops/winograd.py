"""Winograd F(2x2, 3x3) and F(4x4, 3x3): a 3x3 stride-1 convolution with 2.25x or 4x fewer
multiplications.

The idea, in one dimension first. Two outputs of a 3-tap correlation of d = (d0, d1, d2, d3)
with g = (g0, g1, g2),

    y0 = d0 g0 + d1 g1 + d2 g2        y1 = d1 g0 + d2 g1 + d3 g2,

take 6 multiplications done directly, but only 4 as

    m0 = (d0 - d2) g0                 m1 = (d1 + d2) (g0 + g1 + g2) / 2
    m3 = (d1 - d3) g2                 m2 = (d2 - d1) (g0 - g1 + g2) / 2
    y0 = m0 + m1 + m2                 y1 = m1 - m2 - m3.

In matrix form y = A^T [(G g) * (B^T d)] with

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]   input transform
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]     kernel transform
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]                                output transform.

In two dimensions the same is applied along rows and along columns: a 4x4 input tile d gives a
2x2 output tile as Y = A^T [(G g G^T) * (B^T d B)] A: 16 multiplications instead of 36, which
is where the 2.25x comes from. Neighbouring output tiles are 2 pixels apart, so the 4x4 input
tiles overlap by 2.

Channels turn the 16 elementwise products into matrix products. With V[k] = (B^T d B)[k] for
every tile and input channel ([tiles, C] for each of the 16 positions k) and U[k] = (G g G^T)[k]
([C, n_out]), the sum over input channels is

    M[k] = V[k] @ U[k]          16 batched GEMMs [tiles, C] @ [C, n_out]

and Y = A^T M A per tile. The transforms are only additions (the 1/2s live in the kernel, which
is transformed once per call); the GEMMs do 16 C n_out multiply-adds per 2x2 outputs, against
36 C n_out for im2col's one GEMM. It pays when the GEMMs dominate, that is for many channels:
the transforms cost O(C + n_out) per tile, the GEMMs O(C n_out). ``minidl.ops.conv`` takes this
path for NumPy arrays when C and n_out are at least ``MIN_CHANNELS`` (``applies``, which
``conv.choose_algorithm`` asks).

Tiling. The output [OH, OW] is covered by ceil(OH/2) x ceil(OW/2) tiles; tile (t, s) reads the
padded input rows 2t..2t+3 and columns 2s..2s+3. For an odd OH or OW the last tiles hang one
row/column over the padded input: that band is copied into a zero-padded buffer (zeros only
change outputs beyond OH/OW, which are dropped). Tiles are processed in blocks (whole images, or
bands of tile rows of one image) so that V and M stay about ``BLOCK_BYTES``: bounded memory,
and warm in cache between the transform that writes them and the GEMM that reads them.

Accuracy: the transforms add at most 4 terms of the input and of M, so float32 results differ
from a direct convolution by a few ulps of the largest terms (measured in the tests: relative
error ~1e-6, like a change of summation order); float64 agrees to ~1e-15.

F(4x4, 3x3). The same construction with 6x6 input tiles gives 4x4 output tiles from 36
products: 2.25 multiplications per output and channel pair against F(2x2)'s 4 (and direct
convolution's 9), and 36/16 transformed numbers per output pixel against 4, so less memory
too. Its matrices (Lavin and Gray's, from the points 0, 1, -1, 2, -2 and infinity):

    B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    G   = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6],
           [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]]
    A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]].

The price is in the transforms (more terms, some multiplied by 2, 4, 5 or 8) and in accuracy:
the larger coefficients cost float32 about a decimal digit (measured ~1e-5 of the output's
largest value, against ~1e-6 for F(2x2)). ``choose_tiling`` takes it on large maps and
wherever there are enough tiles for its GEMMs (VGG16 from its second block on, ResNet50's
second stage). Everything below works for either: a ``Tiling`` holds the matrices, and the
tiling paragraph above reads with m = 2 or 4 (tiles m apart, m + 2 wide).

The transforms, fast. B^T d B is two 1-d passes, along the tile rows (B^T d) and then along the
tile columns (. B), and each is a stack of matrix products that BLAS runs from the arrays as
they lie in memory, with no copy (``input_transform``; A^T M A likewise, columns first,
``output_transform``, which writes the output rows in place). The transforms of a block run in
pieces of about ``PIECE_BYTES``, shared out among the threads, each piece's steps one after the
other while its arrays are in cache. V and M are laid out [t, n, T, S, t, C]: the order in
which the columns pass writes V, which the t*t GEMMs read as [tiles, C] matrices with a stride.

Layout: channels-last throughout (see ``minidl.ops.window``): xpad [N, Hp, Wp, C] in, out
[N, OH, OW, n_out] written in place.
"""

from typing import NamedTuple

import numpy as np

from minidl.ops import _budget, _memory, _parallel, activations

# Both channel counts must reach MIN_CHANNELS for conv2d to take this path, and F2_MIN_CHANNELS
# where the tiling is F(2x2) (see ``applies``). The transforms are O(C + n_out) per tile, the
# GEMMs they save O(C n_out): with few channels the transforms cost more than the fewer
# multiplications save, and F(2x2) saves 2.25x where F(4x4) saves 4x. Measured against im2col,
# 2 cores, batch 8: with 64 channels F(4x4) wins (VGG16's [8, 64, 224, 224] 213 -> 130 ms,
# 64 -> 128 channels at 112x112 90 -> 61 ms, ResNet50's [8, 64, 56, 56] 12.9 -> 8.8 ms) and
# F(2x2) loses (14.5 and 3.7 ms against 12.9 and 3.3); with 32 channels F(4x4) only ties.
# Tests set both to 1 to force the path.
MIN_CHANNELS = 64
F2_MIN_CHANNELS = 128
# Bytes of V plus M (the transformed tiles and the GEMM output) per block: large enough that
# each of the 16 GEMMs has enough rows to run at full speed on every core, small enough to bound
# the scratch memory. Measured on VGG16's [8, 512, 28, 28] layer (2 cores, OpenBLAS SkylakeX):
# 32 MB blocks give GEMMs of about 490 rows, which run at 145 GFLOP/s against 200 for 1568
# rows; 128 MB takes the whole batch there, 126 -> 89 ms for the layer, and no measurable change
# on [8, 128, 112, 112] (160-190 ms either way, this host's noise), whose blocks were large.
BLOCK_BYTES = 128 * 2**20

# Tiles (output blocks, over the whole batch) from which Winograd pays. The kernel transform
# costs 16 C n_out per call, the GEMMs 16 C n_out per tile: with few tiles (ResNet50's last
# stage at batch 1 has 16) transforming the weights costs about as much as the GEMMs, and the
# one im2col GEMM is faster (measured on ResNet50's 3x3 layers, 2 cores: im2col wins at 16 and
# 128 tiles, the two tie near 200, Winograd wins 2x at 392).
MIN_TILES = 256
# F(4x4) instead of F(2x2) on large maps (``F4_MIN_SIZE`` output rows and columns), or with
# enough 4x4 tiles (``F4_MIN_TILES``): its transforms cost more per pixel, and its 36 GEMMs run
# on a quarter as many tiles, too few rows to run at speed on small maps. Measured, F(4x4) /
# F(2x2) time, 2 cores, batch 8 unless said, over two runs: VGG16's layers 0.73-0.76 (128
# channels, 112x112), 0.67-0.70 (256, 56x56), 0.70-0.71 (512, 28x28; 392 tiles), 1.05-1.10 (512,
# 14x14; 128 tiles); ResNet50's 0.70-0.86 (128, 28x28), 1.10-1.12 (256, 14x14), 1.22 (512, 7x7,
# one run); batch 1 0.78 (256, 56x56), 1.05 (512, 28x28).
F4_MIN_SIZE = 56
F4_MIN_TILES = 384
# Bytes of V (or M) per piece of a transform, the unit the threads share out: each step of a
# piece's transform reads what the step before it wrote, still in cache (32 MB of L3 here). Measured
# on F(4x4), 2 cores, batch 8, VGG16's layers: 0.5 to 4 MB pieces give 103 -> 96 ms at
# 112x112 and 74 -> 71 at 56x56; beyond 4 MB no change.
PIECE_BYTES = 4 * 2**20


# -- the two algorithms ------------------------------------------------------------------------
class Tiling(NamedTuple):
    """One Winograd algorithm F(m x m, 3 x 3): output tiles of m x m from input tiles of
    (m + 2) x (m + 2), m apart; B^T [t, t], G [t, 3] and A^T [m, t] are its transforms."""

    m: int
    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray

    @property
    def t(self):
        """Input tile size, m + 2."""
        return self.m + 2

    @property
    def bias_position(self):
        """The (a, b) of M that A^T M A adds to every output with weight 1 (column 1 of A^T is
        all ones in both algorithms): adding the bias there adds it everywhere, for 1/m^2 of
        the work of adding it to the outputs."""
        return 1, 1


F2 = Tiling(2, np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
            np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
            np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float))
F4 = Tiling(4, np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float),
            np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                      [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
            np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                      [0, 1, -1, 8, -8, 1]], float))


def applies(kernel_size, stride, dilation, c, n_out, output=None):
    """Whether a convolution with these settings should use Winograd: 3x3, stride 1, dilation
    1, at least ``MIN_CHANNELS`` input and output channels and, when ``output`` (n, oh, ow) is
    given, at least ``MIN_TILES`` 2x2 output tiles and, where ``choose_tiling`` takes F(2x2)
    for it, ``F2_MIN_CHANNELS`` channels."""
    channels = min(c, n_out)
    if not (tuple(kernel_size) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and channels >= MIN_CHANNELS):
        return False
    if output is None:
        return True
    return n_tiles(*output) >= MIN_TILES and (
        channels >= F2_MIN_CHANNELS or choose_tiling(*output, c, n_out) is F4)


def n_tiles(n, oh, ow, m=2):
    """The m x m output tiles of a batch of n outputs of oh x ow."""
    return n * -(-oh // m) * -(-ow // m)


def choose_tiling(n, oh, ow, c, n_out):
    """F4 on large maps or with many tiles (see ``F4_MIN_SIZE``), else F2. (The channels
    count too, but Winograd runs only with ``MIN_CHANNELS`` of them, where F4 pays already:
    ``applies`` asks for more where this gives F2.)"""
    if min(oh, ow) >= F4_MIN_SIZE or n_tiles(n, oh, ow, 4) >= F4_MIN_TILES:
        return F4
    return F2


# -- the transforms ----------------------------------------------------------------------------
def kernel_transform(w_taps, tiling=F2):
    """w_taps [3, 3, C, n_out] -> U [t, t, C, n_out], U[a, b] = (G g G^T)[a, b].

    (G g G^T)[a, b] = sum over taps (i, j) of G[a, i] G[b, j] g[i, j], so with the Kronecker
    product kron(G, G)[t a + b, 3i + j] = G[a, i] G[b, j] it is one GEMM [t*t, 9] @ [9, C n_out].
    """
    c, n_out = w_taps.shape[2:]
    g = np.kron(tiling.G, tiling.G).astype(w_taps.dtype)
    # Into cached memory: faulting in 38 MB of fresh pages (F(4x4), 512 x 512 channels) took
    # longer than the GEMM itself (9.9 -> 4.2 ms).
    u = _memory.empty((tiling.t ** 2, c * n_out), w_taps.dtype)
    np.matmul(g, w_taps.reshape(9, c * n_out), out=u)
    return u.reshape(tiling.t, tiling.t, c, n_out)


def _view(a, shape):
    """``a`` reshaped to ``shape``, which must be a view of it: a GEMM writes into it (a
    reshape that had to copy would take the results away)."""
    view = a.reshape(shape)
    assert np.may_share_memory(view, a), "a reshape for a GEMM's output must be a view"
    return view


def _overlapping(a, axis, tiling, count):
    """The ``count`` tiles along ``axis`` of ``a``, t wide and m apart, as a view in which that
    axis becomes two, (tile s, tap r): entry [..., s, r, ...] is a[..., m s + r, ...]."""
    shape = a.shape[:axis] + (count, tiling.t) + a.shape[axis + 1:]
    step = a.strides[axis]
    strides = a.strides[:axis] + (tiling.m * step, step) + a.strides[axis + 1:]
    return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)


def input_transform(d, scratch, v, tiling=F2):
    """V = B^T d B for every tile of d [n, mT+2, mS+2, C] (channels-last): v [t, n, T, S, t, C],
    v[a, n, T, S, b] the channels of (B^T d B)[a, b] of tile (T, S); ``scratch`` [t, n, T,
    mS+2, C] receives B^T d.

    Each half is matrix products, and BLAS does them. Along the tile rows, the t input rows of
    tile row T are t rows of the image, each one run of (mS+2) C numbers, so the pass is one
    GEMM per tile row, B^T [t, t] @ [t, (mS+2) C]. Along the tile columns, the t taps of tile S
    in a row of B^T d are t consecutive runs of C numbers, a [t, C] matrix, so the pass is one
    small GEMM per tile, B^T @ [t, C]. (Computing B^T's shared terms instead, as elementwise
    passes, does fewer multiplications but reads and writes whole arrays per term: measured
    on F(4x4), batch 8, 2 threads, the columns half that way took 1.6x (56x56x256) to 2.3x
    (112x112x128) as long.)
    """
    n, height, width, c = d.shape
    bt = tiling.BT.astype(d.dtype)
    n_rows, n_cols = scratch.shape[2], v.shape[3]
    rows = _overlapping(d.reshape(n, height, width * c), 1, tiling, n_rows)  # [n, T, t, W C]
    b_rows = _view(scratch, (tiling.t, n, n_rows, width * c)).transpose(1, 2, 0, 3)
    np.matmul(bt, rows, out=b_rows)
    np.matmul(bt, _overlapping(scratch, 3, tiling, n_cols), out=v)


def output_transform(mm, z, y, tiling=F2):
    """Y = A^T M A for every tile: y [n, T, m, S, m, K], pixel (i, j) of tile (T, S) being
    output pixel (mT + i, mS + j), so that y is the output rows themselves, from ``mm`` [t, n,
    T, S, t, K] (M laid out as ``input_transform``'s V); ``z`` [t, n, T, S, m, K] receives M A.

    ``input_transform``'s two halves in the other order: along the tile columns first, one
    small GEMM per tile, A^T [m, t] @ M[a] [t, K]; then along the tile rows, one GEMM per tile
    row, A^T @ [t, S m K], whose m rows are the m output rows of the tile row, in place."""
    t, n, n_rows, n_cols, m, k = z.shape
    at = tiling.AT.astype(mm.dtype)
    np.matmul(at, mm, out=z)
    rows = z.reshape(t, n * n_rows, n_cols * m * k).transpose(1, 0, 2)  # [n T, a, S m K]
    np.matmul(at, rows, out=_view(y, (n * n_rows, m, n_cols * m * k)))


# -- blocks of tiles ---------------------------------------------------------------------------
class _Block(NamedTuple):
    """Images start..stop-1, tile rows t0..t1-1 of them, tiles_w tiles per row."""

    start: int
    stop: int
    t0: int
    t1: int
    tiles_w: int
    tiling: Tiling

    @property
    def shape(self):
        return self.stop - self.start, self.t1 - self.t0, self.tiles_w


def _tile_input(xpad, block):
    """The padded input band the block's tiles read: [n, m(t1-t0)+2, m tiles_w + 2, C].

    A view of ``xpad`` when it is large enough, else a zero-padded copy (output sizes that are
    no multiple of m: zeros only change outputs beyond OH/OW, which are dropped).
    """
    m = block.tiling.m
    band = xpad[block.start:block.stop, m * block.t0:m * block.t1 + 2, :m * block.tiles_w + 2]
    nb, tb, tiles_w = block.shape
    shape = (nb, m * tb + 2, m * tiles_w + 2, xpad.shape[3])
    if band.shape == shape:
        return band
    padded = _memory.zeros(shape, xpad.dtype)
    padded[:, :band.shape[1], :band.shape[2]] = band
    return padded


class _Buffers:
    """Scratch arrays for the largest block, allocated once and reused (as prefixes) by all."""

    def __init__(self, block, c, n_out, dtype):
        nb, tb, tiles_w = block.shape
        t, m, tiles = block.tiling.t, block.tiling.m, nb * tb * tiles_w
        width = nb * tb * (m * tiles_w + 2)  # pixels of B^T d per row of tiles' input
        self.v = _memory.empty(t * t * tiles * c, dtype)  # V = B^T d B
        self.d_rows = _memory.empty(t * width * c, dtype)  # B^T d
        self.m = _memory.empty(t * t * tiles * n_out, dtype)  # M = V @ U
        self.m_cols = _memory.empty(t * m * tiles * n_out, dtype)  # M A

    @staticmethod
    def take(buffer, shape):
        return buffer[:int(np.prod(shape))].reshape(shape)


def _positions(a):
    """[t, n, T, S, t, k] (V's or M's layout) as the [t, t, tiles, k] stack of matrices of the
    t*t GEMMs, a view: each matrix's rows are t*k numbers apart, which BLAS reads as they are."""
    t, k = a.shape[0], a.shape[-1]
    return _view(a, (t, -1, t, k)).transpose(0, 2, 1, 3)


def _output_band(out, block):
    """Where the block's tiles go, as [n, T, m, S, m, K]: a view of ``out`` when they fit it
    exactly, else a temporary (sizes no multiple of m: ``_store_band`` crops)."""
    m, (nb, tb, tiles_w) = block.tiling.m, block.shape
    band = out[block.start:block.stop, m * block.t0:m * block.t1]
    shape = (nb, tb, m, tiles_w, m, out.shape[3])
    if band.shape[1:3] == (m * tb, m * tiles_w):
        return _view(band, shape)  # contiguous (whole images or rows of one)
    return _memory.empty(shape, out.dtype)


def _finish(mm, z, y, activation, tiling):
    """The output tiles y from M, then the activation on them while they are in cache."""
    output_transform(mm, z, y, tiling)
    activation.apply(y, out=y)


def _transform_input(xpad, block, buf):
    """V = B^T d B for every tile of ``block``, as [t, n, T, S, t, C] (in ``buf``), in pieces
    of about ``PIECE_BYTES`` on the threads."""
    tiling, (nb, tb, tiles_w), c = block.tiling, block.shape, xpad.shape[3]
    t, m = tiling.t, tiling.m
    d = _tile_input(xpad, block)
    v = buf.take(buf.v, (t, nb, tb, tiles_w, t, c))
    scratch = buf.take(buf.d_rows, (t, nb, tb, m * tiles_w + 2, c))
    _parallel.run_blocks(
        lambda i, r: input_transform(d[i, m * r.start:m * r.stop + 2], scratch[:, i, r],
                                     v[:, i, r], tiling),
        nb, tb, t * t * tiles_w * c * xpad.itemsize, PIECE_BYTES)
    return v


def _transform_output(mm, out, block, activation, buf):
    """The output tiles Y = A^T M A of ``block``, then f on them while they are in cache, in
    pieces on the threads; returns them as [n, T, m, S, m, n_out], a view of ``out`` where
    they fit it."""
    tiling, (nb, tb, tiles_w), n_out = block.tiling, block.shape, out.shape[3]
    y = _output_band(out, block)
    z = buf.take(buf.m_cols, (tiling.t, nb, tb, tiles_w, tiling.m, n_out))
    _parallel.run_blocks(
        lambda i, r: _finish(mm[:, i, r], z[:, i, r], y[i, r], activation, tiling),
        nb, tb, tiling.t ** 2 * tiles_w * n_out * out.itemsize, PIECE_BYTES)
    return y


def _store_band(out, y, block):
    """Copy the output tiles ``y`` of ``block`` into ``out``, unless they were computed there;
    for sizes no multiple of m the tiles' last rows or columns, beyond the output, are dropped."""
    if np.shares_memory(y, out):
        return
    m, (nb, tb, _) = block.tiling.m, block.shape
    oh, ow, n_out = out.shape[1:]
    n_rows = min(oh, m * block.t1) - m * block.t0  # output rows in this band
    y = y.reshape(nb, m * tb, -1, n_out)
    out[block.start:block.stop, m * block.t0:m * block.t0 + n_rows] = y[:, :n_rows, :ow]


def correlate3x3(xpad, w_taps, out, bias=None, activation=activations.IDENTITY, tiling=None):
    """out = f(3x3 stride-1 correlation of padded channels-last xpad [N, Hp, Wp, C] with
    w_taps [3, 3, C, n_out] + bias [n_out]); out [N, Hp-2, Wp-2, n_out] (contiguous) is
    written and returned. ``activation`` is f, an ``ActivationFunction`` (default identity);
    ``tiling`` F2 or F4, by default ``choose_tiling``'s.
    """
    n, hp, wp, c = xpad.shape
    n_out = w_taps.shape[3]
    oh, ow = hp - 2, wp - 2
    tiling = tiling or choose_tiling(n, oh, ow, c, n_out)
    t, m = tiling.t, tiling.m
    tiles_h, tiles_w = -(-oh // m), -(-ow // m)
    u = kernel_transform(w_taps, tiling)
    # Blocks of whole images or of tile rows whose V and M (t*t numbers per tile and channel)
    # fit the budget; the first block is the largest, and the scratch is sized for it.
    tile_row_bytes = t * t * (c + n_out) * xpad.dtype.itemsize * tiles_w
    blocks = [_Block(start, stop, t0, t1, tiles_w, tiling) for start, stop, (t0, t1)
              in _budget.bands(n, tiles_h, tile_row_bytes, BLOCK_BYTES)]
    buf = _Buffers(blocks[0], c, n_out, xpad.dtype)
    for block in blocks:
        v = _transform_input(xpad, block, buf)
        mm = buf.take(buf.m, v.shape[:-1] + (n_out,))
        np.matmul(_positions(v), u, out=_positions(mm))  # the t*t GEMMs [tiles, C] @ [C, n_out]
        if bias is not None:
            _positions(mm)[tiling.bias_position] += bias
        y = _transform_output(mm, out, block, activation, buf)
        _store_band(out, y, block)
    return out
