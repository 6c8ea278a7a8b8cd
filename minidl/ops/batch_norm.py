"""Batch normalization over the batch (and spatial) axes, DL4J's BatchNormalization.

Training normalises with the statistics of the current batch and updates the running averages
``mean = decay * mean + (1 - decay) * batch_mean`` (likewise the variance); inference uses the
running averages, so an example's output does not depend on the rest of its batch.
Input [batch, features] normalises per feature; [batch, channels, h, w] per channel.

Inference is y = scale * x + shift per channel, with scale = gamma / sqrt(var + eps) and
shift = beta - scale * mean. When no gradient can flow through it (under ``no_grad()``, or
nothing requires one) it runs as one fused pass (``scale_shift``), with the same float
operations as the Tensor formula, so the same numbers; otherwise it is built from Tensor
operations so that gradients reach x, gamma and beta (a frozen batch norm in transfer
learning still passes gradients to the layers before it). Inside a network in inference,
a batch norm after a convolution is folded into the convolution's weights instead
(``minidl.nn.fusion``); this op runs where it is not.

Training on the CPU, with x channels-last in memory (a convolution's output) or 2-d, runs a
fast path of the same math (``BatchNormTrain._rows_forward``): per-channel sums block by block
in float64, and the gradient folded into three multiply-adds per number, slice by slice in
cache. With numba installed (the ``jit`` extra), both sums of a pass and the gradient's
multiply-adds run as compiled loops instead (``minidl.ops.batch_norm_jit``): one pass over x
for the mean and variance, one over x and gy for the gradient's sums, about 2x faster.
``bench/batch_norm.py`` measures it against PyTorch.
"""

import numpy as np

from minidl.autograd import Function, Tensor, is_grad_enabled
from minidl.backend import get_array_module
from minidl.ops import _memory, _parallel, _reduce, jit
from minidl.ops._reduce import sum_over
from minidl.ops.window import channels_first, channels_last


def _axes_and_shape(x):
    if x.ndim == 2:
        return (0,), (1, x.shape[1])
    if x.ndim == 4:
        return (0, 2, 3), (1, x.shape[1], 1, 1)
    raise ValueError(f"batch_norm: expected [batch, features] or [batch, channels, h, w], got "
                     f"shape {tuple(x.shape)}")


class BatchNormTrain(Function):
    """y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta with batch statistics.

    x: [batch, features] or [batch, channels, h, w]; gamma, beta: [features]. On the CPU, an x
    whose channels lie last in memory (a convolution's output) or a 2-d x takes the fast path
    of ``_rows_forward`` and ``_rows_backward``; any other x the plain formulas below."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        axes, shape = _axes_and_shape(x)
        self.axes, self.shape = axes, shape
        self.m = m = x.size // x.shape[1]  # numbers per feature
        self.gamma = gamma
        self.rows = _channel_rows(x)
        if self.rows is not None:
            return self._rows_forward(x, gamma, beta)
        self.mean = sum_over(x, axes) / m
        centered = x - self.mean.reshape(shape)
        self.var = sum_over(centered * centered, axes) / m
        self.inv_std = 1.0 / xp.sqrt(self.var + self.eps)
        self.x_hat = centered * self.inv_std.reshape(shape)
        return gamma.reshape(shape) * self.x_hat + beta.reshape(shape)

    def backward(self, gy):
        if self.rows is not None:
            return self._rows_backward(gy)
        axes, shape, m = self.axes, self.shape, self.m
        g_beta = sum_over(gy, axes)
        g_gamma = sum_over(gy * self.x_hat, axes)
        # The textbook simplification of d/dx through mean and variance of the batch.
        g_xhat = gy * self.gamma.reshape(shape)
        gx = (self.inv_std.reshape(shape) / m) * (
            m * g_xhat - sum_over(g_xhat, axes).reshape(shape)
            - self.x_hat * sum_over(g_xhat * self.x_hat, axes).reshape(shape))
        return gx, g_gamma, g_beta

    # -- the fast path: x as a [rows, C] matrix, in cache-sized slices -------------------------
    # The plain formulas make about five passes over memory forward and ten backward, each
    # writing a temporary as large as x, and NumPy sums an NCHW view of channels-last memory
    # slowly. Here the per-channel sums are taken block by block (``_sums``, ``Slices.sums``),
    # each block's float32 sum added into a float64 total so that long batches lose no
    # precision, and the formulas are folded into one multiply-add per number for y
    # (``scale_shift``) and three for gx, done slice by slice while the slice is in cache. x
    # itself is kept for the backward instead of x_hat (the graph keeps x alive anyway), which
    # saves writing x_hat.
    def _rows_forward(self, x, gamma, beta):
        rows, m = self.rows, self.m
        compiled = jit.kernels("minidl.ops.batch_norm_jit", rows)
        if compiled is not None:  # one pass for both sums (``minidl.ops.batch_norm_jit``)
            shift = rows[0].astype(np.float64)
            s, q = _row_sums(compiled.shifted_sums, (rows, shift), rows)
            self.mean, self.var = shift + s / m, np.maximum(q / m - (s / m) ** 2, 0.0)
        else:
            self.mean, self.var = _mean_and_variance(rows, m)
        self.inv_std = 1.0 / np.sqrt(self.var + self.eps)  # float64, [C]
        scale = gamma * self.inv_std
        return scale_shift(x, scale, beta - scale * self.mean)

    def _rows_backward(self, gy):
        """gx = gamma * inv_std * (gy - mean(gy) - x_hat * mean(gy * x_hat)), with x_hat =
        (x - mean) * inv_std: per channel, gx = k * gy + a * x + c."""
        rows, m, mean = self.rows, self.m, self.mean
        gy_rows = _channel_rows(gy)
        if gy_rows is None:
            gy_rows = np.ascontiguousarray(_channels_last(gy)).reshape(rows.shape)
        compiled = jit.kernels("minidl.ops.batch_norm_jit", rows)
        if compiled is not None:  # both sums in one pass (``minidl.ops.batch_norm_jit``)
            g_beta, g_centered = _row_sums(compiled.gradient_sums, (gy_rows, rows, mean), rows)
        else:
            g_beta, g_centered = _gradient_sums(gy_rows, rows, mean)
        g_gamma = g_centered * self.inv_std
        k = self.gamma * self.inv_std
        a = -k * self.inv_std * g_gamma / m
        c = -k * g_beta / m - a * mean
        gx = _memory.empty(gy_rows.shape, gy.dtype)
        if compiled is not None:
            k, a, c = (v.astype(gy.dtype) for v in (k, a, c))
            _parallel.run([lambda p=p: compiled.multiply_add(gy_rows, rows, k, a, c, gx, p.start,
                                                             p.stop) for p in _row_parts(rows)])
        else:
            _multiply_add(gy_rows, rows, k, a, c, gx)
        return _as_input_layout(gx, gy.shape), g_gamma.astype(gy.dtype), g_beta.astype(gy.dtype)


def _mean_and_variance(rows, m):
    """The per-channel mean and variance of [rows, C] ``rows`` (m numbers per channel), in
    float64 (NumPy's way: BLAS block sums for the mean, a pass of slices for the squares about
    it)."""
    mean, slices = _sums(rows) / m, Slices(rows)
    tiled_mean = slices.tile(mean)

    def squares(s, scratch):
        centered = np.subtract(s.of(rows), tiled_mean[:scratch.size], out=scratch)
        return np.einsum("ij,ij->j", s.matrix(centered), s.matrix(centered))

    return mean, slices.sums(squares) / m


def _gradient_sums(gy_rows, rows, mean):
    """The sums of gy and of gy * (x - mean) per channel, in float64 (NumPy's way: BLAS for the
    first, a pass of slices for the second)."""
    slices = Slices(rows)
    tiled_mean = slices.tile(mean)

    def centered_sums(s, scratch):  # the sum of gy * (x - mean) over one slice
        centered = np.subtract(s.of(rows), tiled_mean[:scratch.size], out=scratch)
        return np.einsum("ij,ij->j", s.matrix(s.of(gy_rows)), s.matrix(centered))

    return _sums(gy_rows), slices.sums(centered_sums)


def _multiply_add(gy_rows, rows, k, a, c, gx):
    """gx = k * gy + a * x + c per channel, slice by slice in cache (NumPy's way)."""
    slices = Slices(rows)
    k, a, c = (slices.tile(v) for v in (k, a, c))

    def fill(s, scratch):
        n = scratch.size
        out = np.multiply(s.of(gy_rows), k[:n], out=s.of(gx))
        out += np.multiply(s.of(rows), a[:n], out=scratch)
        out += c[:n]

    slices.each(fill)


def _row_parts(rows):
    """Slices of the rows of [R, C] ``rows`` that share it out among the threads (one slice for
    a small matrix: handing work to the pool costs more than it saves there)."""
    return _parallel.cuts(len(rows), _parallel.THREADS if rows.size >= _parallel.PARALLEL_SIZE
                          else 1)


def _row_sums(loop, arrays, rows):
    """The two per-channel float64 sums that compiled ``loop(*arrays, s, t, r0, r1)`` takes over
    rows [r0, r1), each thread taking its part of ``rows`` (``_row_parts``); the parts' sums
    added in order, so that every run gives the same result."""
    parts = _row_parts(rows)
    sums = [(np.empty(rows.shape[1]), np.empty(rows.shape[1])) for _ in parts]
    _parallel.run([lambda p=p, st=st: loop(*arrays, *st, p.start, p.stop)
                   for p, st in zip(parts, sums)])
    return sum(st[0] for st in sums), sum(st[1] for st in sums)


def _channels_last(a):
    """[N, C, H, W] as [N, H, W, C] (a view, ``window.channels_last``); a 2-d a as it is."""
    return a if a.ndim == 2 else channels_last(a)


def _channel_rows(x):
    """x as a [rows, C] matrix view when its channels lie last in memory (or it is 2-d) and it
    is a NumPy array; else None."""
    if get_array_module(x) is not np:
        return None
    x_l = _channels_last(x)
    return x_l.reshape(-1, x.shape[1]) if x_l.flags.c_contiguous else None


def _as_input_layout(rows, shape):
    """A [rows, C] result as the [N, C, H, W] array of ``shape`` (channels-last memory), or as
    it is for a 2-d ``shape``."""
    if len(shape) == 2:
        return rows
    n, c, h, w = shape
    return channels_first(rows.reshape(n, h, w, c))


# Numbers per block of ``_sums``: large enough that the BLAS call runs at speed on its
# threads, small enough that a float32 sum over one block loses nothing worth keeping.
SUM_BLOCK = 1 << 20


def _sums(rows):
    """[rows, C] summed over its rows, in float64: a block of rows at a time as a product with
    a vector of ones (BLAS, on its own threads: 4x faster than NumPy's sum over axis 0; called
    from the pool's threads instead, the calls contend), the blocks' sums added in float64."""
    step = max(1, SUM_BLOCK // rows.shape[1])
    total = np.zeros(rows.shape[1], np.float64)
    for start in range(0, len(rows), step):
        block = rows[start:start + step]
        total += _reduce.ones(np, len(block), rows.dtype) @ block
    return total


# Numbers per slice of the per-channel passes: 256 KiB of float32, so that the several
# operations on one slice meet it in the core's cache: one pass over memory instead of several.
SLICE_SIZE = 1 << 16


class Slices:
    """A [rows, C] matrix (contiguous) cut into slices of whole rows, about ``SLICE_SIZE``
    numbers each, for passes that go per channel.

    A slice is handled as one flat run of numbers (``of``), against per-channel vectors tiled
    to a slice's length (``tile``): NumPy broadcasting a [C] vector over an [r, C] slice loops
    row by row, C numbers at a time, and runs 1.4 to 2x slower (measured at C = 144)."""

    def __init__(self, rows):
        self.c, self.dtype = rows.shape[1], rows.dtype
        self.rows_per_slice = step = max(1, SLICE_SIZE // self.c)
        self.slices = [_Slice(a, min(a + step, len(rows)), self.c)
                       for a in range(0, len(rows), step)]

    def tile(self, v):
        """Per-channel ``v`` [C] repeated over a slice, flat: [rows_per_slice * C]."""
        return np.tile(v.astype(self.dtype), self.rows_per_slice)

    def each(self, work):
        """``work(slice, scratch)`` on every slice, the slices shared out among the threads in
        runs of consecutive ones; ``scratch``: a flat array of the slice's size, the thread's
        own. The results, in slice order."""
        runs = [self.slices[part] for part in _parallel.cuts(len(self.slices), _parallel.THREADS)]
        results = [None] * len(runs)

        def do_run(i):
            buffer = np.empty(self.rows_per_slice * self.c, self.dtype)
            results[i] = [work(s, buffer[:s.size]) for s in runs[i]]

        _parallel.run([lambda i=i: do_run(i) for i in range(len(runs))])
        return [r for run in results for r in run]

    def sums(self, term):
        """The sum of ``term(slice, scratch)`` (per-channel float32 sums, taken without BLAS:
        see ``_sums``) over the slices, added in float64 in slice order: the same result on
        every run."""
        return sum(part.astype(np.float64) for part in self.each(term))


class _Slice:
    """Rows [start, stop) of a [rows, C] matrix."""

    def __init__(self, start, stop, c):
        self.start, self.stop, self.c = start, stop, c
        self.size = (stop - start) * c

    def of(self, a):
        """The slice's numbers of [rows, C] matrix ``a``, flat (a view)."""
        return a[self.start:self.stop].reshape(-1)

    def matrix(self, flat):
        """A flat run of the slice's numbers as [rows, C] again."""
        return flat.reshape(-1, self.c)


def batch_norm(x, gamma, beta, running_mean, running_var, train, decay=0.9, eps=1e-5):
    """Normalise ``x``; in training also update ``running_mean``/``running_var`` in place.

    x: a Tensor or an array, [batch, features] or [batch, channels, h, w]; gamma, beta: Tensors
    of shape [features]; running_mean, running_var: plain arrays.
    """
    if train:
        fn = BatchNormTrain(eps)
        y = fn(x, gamma, beta)
        running_mean *= decay
        running_mean += (1 - decay) * fn.mean.astype(running_mean.dtype, copy=False)
        running_var *= decay
        running_var += (1 - decay) * fn.var.astype(running_var.dtype, copy=False)
        return y
    xp = get_array_module(x)  # x: a Tensor or an array; both have .shape and .ndim
    _, shape = _axes_and_shape(x)
    inv_std = (1.0 / xp.sqrt(running_var + eps)).astype(running_var.dtype)
    if not _needs_graph(x, gamma, beta):
        return Tensor(scale_shift(_data(x), _data(gamma) * inv_std,
                                  _data(beta) - _data(gamma) * inv_std * running_mean))
    scale = gamma * inv_std  # Tensor: gradients still reach gamma and beta when they are trainable
    shift = beta - scale * running_mean
    # The Tensor on the left: its operator handles x whether it is a Tensor or a plain array.
    return scale.reshape(shape) * x + shift.reshape(shape)


# -- inference without gradients: one fused pass ---------------------------------------------
def _data(a):
    return a.data if isinstance(a, Tensor) else a


def _needs_graph(*inputs):
    """Whether a gradient may flow back through batch norm in inference mode: then it is
    built from Tensor operations, as the plain formula reads; otherwise ``scale_shift`` runs."""
    return is_grad_enabled() and any(getattr(a, "requires_grad", False) for a in inputs)


def scale_shift(x, scale, shift):
    """y = x * scale + shift per channel (axis 1 of x [N, C, ...] or [N, C]), a new array in
    x's memory layout: the inference-mode batch norm, folded to one multiply-add per number.

    The same numbers as the Tensor formula of ``batch_norm`` (the same two float operations in
    the same order). On the CPU, a channels-last x (the window ops' output, see
    ``minidl.ops.window``) is done as a [rows, C] matrix, slice by slice (``Slices``) on the
    threads.
    """
    xp = get_array_module(x)
    scale, shift = scale.astype(x.dtype, copy=False), shift.astype(x.dtype, copy=False)
    rows = _channel_rows(x)
    if rows is None:
        _, shape = _axes_and_shape(x)
        return x * scale.reshape(shape) + shift.reshape(shape)
    y = _memory.empty(rows.shape, x.dtype, xp)
    slices = Slices(rows)
    scale, shift = slices.tile(scale), slices.tile(shift)

    def pass_(s, scratch):
        out = np.multiply(s.of(rows), scale[:s.size], out=s.of(y))
        out += shift[:s.size]

    slices.each(pass_)
    return _as_input_layout(y, x.shape)
