"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplications.

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
path for NumPy arrays when C and n_out are at least ``MIN_CHANNELS`` (``conv.choose_algorithm``).

Tiling. The output [OH, OW] is covered by ceil(OH/2) x ceil(OW/2) tiles; tile (t, s) reads the
padded input rows 2t..2t+3 and columns 2s..2s+3. For an odd OH or OW the last tiles hang one
row/column over the padded input: that band is copied into a zero-padded buffer (zeros only
change outputs beyond OH/OW, which are dropped). Tiles are processed in blocks (whole images, or
bands of tile rows of one image) so that V and M stay about ``BLOCK_BYTES``: bounded memory,
and warm in cache between the transform that writes them and the GEMM that reads them.

Accuracy: the transforms add at most 4 terms of the input and of M, so float32 results differ
from a direct convolution by a few ulps of the largest terms (measured in the tests: relative
error ~1e-6, like a change of summation order); float64 agrees to ~1e-15.

Layout: channels-last throughout (see ``minidl.ops.window``): xpad [N, Hp, Wp, C] in, out
[N, OH, OW, n_out] written in place.
"""

import numpy as np

from minidl.ops import _budget, _memory, _parallel, activations

# Both channel counts must reach this for conv2d to take this path (see ``applies``). The
# transforms are elementwise passes, O(C + n_out) per tile, that scale worse over cores than
# the GEMMs they save, O(C n_out) per tile: with few channels they cost more than the 2.25x
# fewer multiplications save. On the 2-core machine this was tuned on, im2col wins below 128
# channels and the two tie at 128 (``python -m bench.conv`` times a case on each side; with
# one thread the crossover is lower). Tests set it to 1 to force the path.
MIN_CHANNELS = 128
# Bytes of V plus M (the transformed tiles and the GEMM output) per block: large enough that
# each of the 16 GEMMs has enough rows to run at full speed on every core (smaller blocks were
# slower on the 512-channel layers), small enough to bound the scratch memory.
BLOCK_BYTES = 32 * 2**20

G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


# Tiles (2x2 output blocks, over the whole batch) from which Winograd pays. The kernel
# transform costs 16 C n_out per call, the GEMMs 16 C n_out per tile: with few tiles (ResNet50's
# last stage at batch 1 has 16) transforming the weights costs about as much as the GEMMs, and
# the one im2col GEMM is faster (measured on ResNet50's 3x3 layers, 2 cores: im2col wins at 16
# and 128 tiles, the two tie near 200, Winograd wins 2x at 392).
MIN_TILES = 256


def applies(kernel_size, stride, dilation, c, n_out, n_tiles=None):
    """Whether a convolution with these settings should use Winograd (3x3, stride 1, dilation 1,
    at least ``MIN_CHANNELS`` input and output channels and, when ``n_tiles`` (2x2 output
    tiles in the batch) is given, at least ``MIN_TILES`` tiles)."""
    return (tuple(kernel_size) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and min(c, n_out) >= MIN_CHANNELS
            and (n_tiles is None or n_tiles >= MIN_TILES))


def n_tiles(n, oh, ow):
    """The 2x2 output tiles of a batch of n outputs of oh x ow."""
    return n * ((oh + 1) // 2) * ((ow + 1) // 2)


def kernel_transform(w_taps):
    """w_taps [3, 3, C, n_out] -> U [16, C, n_out], U[4a + b] = (G g G^T)[a, b].

    (G g G^T)[a, b] = sum over taps (i, j) of G[a, i] G[b, j] g[i, j], so with the Kronecker
    product kron(G, G)[4a + b, 3i + j] = G[a, i] G[b, j] it is one GEMM [16, 9] @ [9, C n_out].
    """
    c, n_out = w_taps.shape[2:]
    g = np.kron(G, G).astype(w_taps.dtype)
    return (g @ w_taps.reshape(9, c * n_out)).reshape(16, c, n_out)


def _rows_transform(d, axis, out):
    """B^T applied along ``axis`` of overlapping 4-tiles with step 2: out[k] for k = 0..3.

    d has 2T + 2 entries along ``axis``; out is a list of 4 arrays with T entries there.
    """
    def taps(r):  # entries r, r + 2, r + 4, ...: element r of every tile
        index = [slice(None)] * d.ndim
        index[axis] = slice(r, r + 2 * out[0].shape[axis] - 1, 2)
        return d[tuple(index)]
    d0, d1, d2, d3 = taps(0), taps(1), taps(2), taps(3)
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def input_transform(d, v, scratch):
    """d [n, 2T+2, 2S+2, C] -> v [16, n, T, S, C] = B^T d B for every tile (additions only).

    ``scratch`` [4, n, T, 2S+2, C] holds the rows-transformed tiles.
    """
    _rows_transform(d, 1, list(scratch))
    for a in range(4):
        _rows_transform(scratch[a], 2, list(v[4 * a:4 * a + 4]))


def output_transform(m, y, scratch):
    """m [16, n, T, S, K] -> y [n, T, 2, S, 2, K]: Y = A^T M A for every tile.

    ``scratch`` [2, 4, n, T, S, K] holds A^T applied along the tile rows.
    """
    m = m.reshape(4, 4, *m.shape[1:])
    for b in range(4):  # rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
        np.add(m[0, b], m[1, b], out=scratch[0, b])
        scratch[0, b] += m[2, b]
        np.subtract(m[1, b], m[2, b], out=scratch[1, b])
        scratch[1, b] -= m[3, b]
    for i in range(2):  # columns, written straight into the interleaved output
        s = scratch[i]
        np.add(s[0], s[1], out=y[:, :, i, :, 0])
        y[:, :, i, :, 0] += s[2]
        np.subtract(s[1], s[2], out=y[:, :, i, :, 1])
        y[:, :, i, :, 1] -= s[3]


def _tile_input(xpad, start, stop, t0, t1, tiles_w):
    """The padded input band tiles t0..t1-1 read: [n, 2(t1-t0)+2, 2 tiles_w + 2, C].

    A view of ``xpad`` when it is large enough, else a zero-padded copy (odd output sizes).
    """
    rows, cols = slice(2 * t0, 2 * t1 + 2), slice(0, 2 * tiles_w + 2)
    band = xpad[start:stop, rows, cols]
    shape = (stop - start, 2 * (t1 - t0) + 2, 2 * tiles_w + 2, xpad.shape[3])
    if band.shape == shape:
        return band
    padded = _memory.zeros(shape, xpad.dtype)
    padded[:, :band.shape[1], :band.shape[2]] = band
    return padded


class _Buffers:
    """Scratch arrays for the largest block, allocated once and reused (as prefixes) by all."""

    def __init__(self, block, tiles_w, c, n_out, dtype):
        start, stop, (t0, t1) = block
        nb, tb = stop - start, t1 - t0
        tiles = nb * tb * tiles_w
        self.v = _memory.empty(16 * tiles * c, dtype)  # V = B^T d B
        self.d_rows = _memory.empty(4 * nb * tb * (2 * tiles_w + 2) * c, dtype)  # B^T d
        self.m = _memory.empty(16 * tiles * n_out, dtype)  # M = V @ U
        self.m_rows = _memory.empty(8 * tiles * n_out, dtype)  # A^T M

    @staticmethod
    def take(buffer, shape):
        return buffer[:int(np.prod(shape))].reshape(shape)


def _output_band(out, start, stop, t0, t1, tiles_w):
    """Where the tiles t0..t1-1 of images start..stop-1 go, as [n, T, 2, S, 2, K]: a view of
    ``out`` when the tiles fit it exactly, else a temporary (odd sizes: ``_store_band`` crops)."""
    n_out = out.shape[3]
    band = out[start:stop, 2 * t0:2 * t1]
    shape = (stop - start, t1 - t0, 2, tiles_w, 2, n_out)
    if band.shape[1:3] == (2 * (t1 - t0), 2 * tiles_w):
        return band.reshape(shape)  # contiguous (whole images or rows of one): a view
    return _memory.empty(shape, out.dtype)


def _finish(m, y, scratch, activation):
    """The output tiles y from m, then the activation on them while they are in cache."""
    output_transform(m, y, scratch)
    activation.apply(y, out=y)


def _parts(nb, tb):
    """Split a block of nb images x tb tile rows into (image slice, tile-row slice) pairs, one
    per thread of ``minidl.ops._parallel``: over images if there are several, else tile rows."""
    if nb > 1:
        return [(i, slice(0, tb)) for i in _parallel.cuts(nb, _parallel.THREADS)]
    return [(slice(0, 1), t) for t in _parallel.cuts(tb, _parallel.THREADS)]


def _transform_input(xpad, block, tiles_w, buf):
    """V = B^T d B for every tile of ``block``, as [16, tiles, C] (in ``buf``, on the threads)."""
    start, stop, (t0, t1) = block
    nb, tb, c = stop - start, t1 - t0, xpad.shape[3]
    d = _tile_input(xpad, start, stop, t0, t1, tiles_w)
    v = buf.take(buf.v, (16, nb, tb, tiles_w, c))
    scratch = buf.take(buf.d_rows, (4, nb, tb, 2 * tiles_w + 2, c))
    _parallel.run([lambda i=i, t=t: input_transform(d[i, 2 * t.start:2 * t.stop + 2], v[:, i, t],
                                                    scratch[:, i, t])
                   for i, t in _parts(nb, tb)])
    return v.reshape(16, nb * tb * tiles_w, c)


def _transform_output(m, out, block, tiles_w, activation, buf):
    """The output tiles Y = A^T M A of ``block``, then f on them while they are in cache (on the
    threads); returns them as [n, T, 2, S, 2, n_out], a view of ``out`` where they fit it."""
    start, stop, (t0, t1) = block
    nb, tb, n_out = stop - start, t1 - t0, out.shape[3]
    m = m.reshape(16, nb, tb, tiles_w, n_out)
    y = _output_band(out, start, stop, t0, t1, tiles_w)
    scratch = buf.take(buf.m_rows, (2, 4, nb, tb, tiles_w, n_out))
    _parallel.run([lambda i=i, t=t: _finish(m[:, i, t], y[i, t], scratch[:, :, i, t], activation)
                   for i, t in _parts(nb, tb)])
    return y


def _store_band(out, y, block):
    """Copy the output tiles ``y`` of ``block`` into ``out``, unless they were computed there;
    for an odd OH or OW the tiles' last row or column, beyond the output, is dropped."""
    if np.shares_memory(y, out):
        return
    start, stop, (t0, t1) = block
    oh, ow, n_out = out.shape[1:]
    n_rows = min(oh, 2 * t1) - 2 * t0  # output rows in this band
    y = y.reshape(stop - start, 2 * (t1 - t0), -1, n_out)
    out[start:stop, 2 * t0:2 * t0 + n_rows] = y[:, :n_rows, :ow]


def correlate3x3(xpad, w_taps, out, bias=None, activation=activations.IDENTITY):
    """out = f(3x3 stride-1 correlation of padded channels-last xpad [N, Hp, Wp, C] with
    w_taps [3, 3, C, n_out] + bias [n_out]); out [N, Hp-2, Wp-2, n_out] (contiguous) is
    written and returned. ``activation`` is f, an ``ActivationFunction`` (default identity).
    """
    n, hp, wp, c = xpad.shape
    n_out = w_taps.shape[3]
    oh, ow = hp - 2, wp - 2
    tiles_h, tiles_w = (oh + 1) // 2, (ow + 1) // 2
    u = kernel_transform(w_taps)
    # Blocks of whole images or of tile rows whose V and M (16 numbers per tile and channel)
    # fit the budget; the first block is the largest, and the scratch is sized for it.
    tile_row_bytes = 16 * (c + n_out) * xpad.dtype.itemsize * tiles_w
    blocks = _budget.bands(n, tiles_h, tile_row_bytes, BLOCK_BYTES)
    buf = _Buffers(blocks[0], tiles_w, c, n_out, xpad.dtype)
    for block in blocks:
        v = _transform_input(xpad, block, tiles_w, buf)
        m = buf.take(buf.m, (16, v.shape[1], n_out))
        np.matmul(v, u, out=m)  # the 16 GEMMs [tiles, C] @ [C, n_out]
        if bias is not None:
            # A^T M A sums the centre M[1, 1] into all four outputs with weight 1: adding the
            # bias there adds it to every output, for a quarter of the work of adding it after.
            m[5] += bias
        y = _transform_output(m, out, block, tiles_w, activation, buf)
        _store_band(out, y, block)
    return out
