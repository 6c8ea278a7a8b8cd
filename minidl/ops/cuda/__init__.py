"""CUDA kernels for the ops that are not a library call: the GPU side of the engine's seams.

Convolution and dense layers are GEMMs, done by cuBLAS through ``cupy.matmul``; everything else
that is more than one elementwise expression has a kernel here, written in CUDA C in the ``.cu``
files beside this one (one concern per file):

    im2col.cu           im2col / col2im for channels-last arrays (``Window.im2col``/``col2im``)
    pool.cu             max pooling with argmax, average pooling; forward and backward
    depthwise.cu        depthwise convolution: forward, input gradient, weight gradient
    bias_activation.cu  y = f(z + b) in one pass, and gz = gy * f'(.) from y
    softmax_xent.cu     softmax, its backward, softmax fused with cross-entropy
    updaters.cu         one training step of a parameter per updater (``IUpdater.step``)

Each Python function below has the contract of the NumPy code it stands in for (same shapes,
layouts, dtypes and semantics); ``tests/minidl/ops/test_cuda_kernels.py`` checks them against it.

Compilation. A ``.cu`` file is compiled once per device with NVRTC into a ``cupy.RawModule``
(``common.cuh`` is put in front of it), on first use. The kernels are C++ templates over the
element type; ``KERNELS`` names every instantiation (``im2col_nhwc<float>``, ...), which NVRTC
compiles from the name expressions. CuPy also keeps compiled modules on disk
(``~/.cupy/kernel_cache``), so a new process does not recompile. CuPy is imported only when a
kernel is first called, so importing this module costs nothing on a machine without a GPU.

Kernels take raw pointers and ignore strides: every array handed to a kernel is made
C-contiguous first (``_contiguous``), and outputs are allocated contiguous here.
"""

import os

import numpy as np

from minidl.ops._reduce import sum_rows

HERE = os.path.dirname(os.path.abspath(__file__))
COMMON = "common.cuh"

# file -> kernel templates in it; each is instantiated for every type in TYPES.
KERNELS = {
    "im2col.cu": ("im2col_nhwc", "col2im_nhwc"),
    "pool.cu": ("max_pool_forward_nhwc", "max_pool_backward_nhwc",
                "avg_pool_forward_nhwc", "avg_pool_backward_nhwc"),
    "depthwise.cu": ("depthwise_forward_nhwc", "depthwise_backward_input_nhwc",
                     "depthwise_weight_partial_nhwc"),
    "bias_activation.cu": ("bias_activation_forward", "bias_activation_backward"),
    "softmax_xent.cu": ("softmax_forward", "softmax_backward",
                        "softmax_xent_forward", "softmax_xent_backward"),
    "updaters.cu": ("sgd_step", "nesterov_step", "adam_step", "rmsprop_step", "adagrad_step"),
}
# Compiler options beyond the C++ standard, by file. The updaters are compiled without fused
# multiply-adds so that their steps are NumPy's, bit for bit (see updaters.cu).
OPTIONS = {"updaters.cu": ("--fmad=false",)}
TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
         np.dtype(np.float16): "half16"}
# The kernels that also take float16 arrays (common.cuh's half16: stored in half, computed in
# float): those an inference pass runs (``minidl.nn.precision``). Training stays float32.
HALF_KERNELS = ("im2col_nhwc", "max_pool_forward_nhwc", "avg_pool_forward_nhwc",
                "depthwise_forward_nhwc", "bias_activation_forward", "softmax_forward")
HALF = np.dtype(np.float16)

# Activation codes of bias_activation.cu (its ACT_* defines).
ACTIVATIONS = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "leakyrelu": 4, "elu": 5,
               "relu6": 6, "hardsigmoid": 7, "swish": 8, "hardswish": 9}

THREADS = 256  # threads per block of the elementwise (grid-stride) kernels
ROW_BLOCK = 256  # threads per block of the row kernels: common.cuh's ROW_BLOCK
MAX_BLOCKS = 65535 * 8  # enough to fill any current GPU; the loops stride over the rest
SEGMENT_LANES = 32  # threads per segment of im2col_nhwc at most (a warp)
WEIGHT_CHUNK = 64  # output positions per partial sum of depthwise_weight_partial_nhwc


def name_expressions(filename):
    """Every kernel instantiation of ``filename``: ``["im2col_nhwc<float>", ...]``."""
    return [f"{kernel}<{TYPES[dtype]}>" for kernel in KERNELS[filename] for dtype in TYPES
            if dtype != HALF or kernel in HALF_KERNELS]


def check_dtype(name, dtype):
    """The dtype of a kernel's arrays, refused with an error naming the kernel when it has no
    instantiation for it."""
    dtype = np.dtype(dtype)
    if dtype not in TYPES or (dtype == HALF and name not in HALF_KERNELS):
        halves = " (float16 only for inference: " + ", ".join(HALF_KERNELS) + ")"
        raise TypeError(f"CUDA kernel {name}: expected float32 or float64 arrays{halves}, "
                        f"got {dtype}")
    return dtype


def arithmetic(dtype):
    """The scalar type a kernel of ``dtype`` computes in (common.cuh's Arithmetic): float for
    float16, else the type itself."""
    return np.dtype(np.float32 if np.dtype(dtype) == HALF else dtype).type


def options(filename):
    """The NVRTC (and nvcc) options ``filename`` is compiled with."""
    return ("--std=c++17", *OPTIONS.get(filename, ()))


def source(filename):
    """The text NVRTC compiles for ``filename``: common.cuh, then the file."""
    parts = []
    for name in (COMMON, filename):
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            parts.append(f.read())
    return "\n".join(parts)


# -- loading ---------------------------------------------------------------------------------
_modules = {}  # (filename, device id) -> cupy.RawModule


def _cupy():
    import cupy  # only ever reached with CuPy arrays in hand

    return cupy


def _module(filename):
    cupy = _cupy()
    key = (filename, cupy.cuda.Device().id)
    module = _modules.get(key)
    if module is None:
        module = _modules[key] = cupy.RawModule(
            code=source(filename), options=options(filename),
            name_expressions=name_expressions(filename))
    return module


def _kernel(filename, name, dtype):
    dtype = check_dtype(name, dtype)
    return _module(filename).get_function(f"{name}<{TYPES[dtype]}>")


def _launch(kernel, total, args):
    """Run a grid-stride kernel over ``total`` elements."""
    if total == 0:
        return
    blocks = min(MAX_BLOCKS, (total + THREADS - 1) // THREADS)
    kernel((blocks,), (THREADS,), args)


def _launch_rows(kernel, n_rows, args):
    """Run a row kernel: one block of ROW_BLOCK threads per row."""
    if n_rows == 0:
        return
    kernel((min(MAX_BLOCKS, n_rows),), (ROW_BLOCK,), args)


def _pointer(a):
    """``a`` as a kernel pointer argument, NULL for None.

    CuPy passes a None argument as an invalid address, not NULL (cupy/cupy#9046), so a null
    pointer is passed as a pointer-sized zero.
    """
    return np.uint64(0) if a is None else a


def _contiguous(a, dtype=None):
    """``a`` C-contiguous and, given ``dtype``, of that type: a kernel reads every array as its
    one element type, so a second input (bias, labels, gradient) must match the first."""
    return _cupy().ascontiguousarray(a, dtype=dtype)


def _ints(*values):
    return [np.int32(v) for v in values]


def _geometry(window):
    """Kernel and stride/dilation ints shared by every window kernel."""
    return _ints(window.kh, window.kw, window.sy, window.sx, window.dy, window.dx)


# -- im2col / col2im (Window.im2col, Window.col2im) ------------------------------------------
def im2col(window, xpad, rows=None, out=None):
    """Padded channels-last [n, Hp, Wp, C] -> columns [n, rows, OW, KH, KW, C]."""
    cupy = _cupy()
    xpad = _contiguous(xpad)
    oy0, oy1 = rows if rows is not None else (0, window.oh)
    n, hp, wp, c = xpad.shape
    shape = (n, oy1 - oy0, window.ow, window.kh, window.kw, c)
    if out is None or not out.flags.c_contiguous:
        col = cupy.empty(shape, dtype=xpad.dtype)
    else:
        col = out
    if col.size == 0:
        return col if out is None else out
    run = window.kw * c  # numbers per segment (see im2col.cu)
    lane_bits = min(SEGMENT_LANES, run).bit_length() - 1  # 2^lane_bits threads per segment
    threads = (col.size // run) << lane_bits
    _launch(_kernel("im2col.cu", "im2col_nhwc", xpad.dtype), threads,
            [xpad, col, np.int64(threads), *_ints(hp, wp, c, oy1 - oy0, window.ow),
             *_geometry(window), *_ints(oy0, lane_bits)])
    if out is not None and col is not out:
        out[...] = col
        return out
    return col


def col2im(window, col):
    """Adjoint of ``im2col``: columns [n, OH, OW, KH, KW, C] -> padded [n, Hp, Wp, C]."""
    cupy = _cupy()
    col = _contiguous(col)
    hp, wp = window.padded_size
    n, c = col.shape[0], col.shape[5]
    xpad = cupy.empty((n, hp, wp, c), dtype=col.dtype)
    _launch(_kernel("im2col.cu", "col2im_nhwc", col.dtype), xpad.size,
            [col, xpad, np.int64(xpad.size), *_ints(hp, wp, c, window.oh, window.ow),
             *_geometry(window)])
    return xpad


# -- pooling (MaxPool2d, AvgPool2d) ----------------------------------------------------------
def _pool_shape(window, x_l):
    """The ints after ``total`` in every pooling kernel: sizes, geometry, padding."""
    n, h, w, c = x_l.shape
    return [*_ints(h, w, c, window.oh, window.ow), *_geometry(window),
            *_ints(window.pad_top, window.pad_left)]


def max_pool_forward(window, x_l, keep_argmax=True):
    """Channels-last x [N, H, W, C] -> (y [N, OH, OW, C], argmax uint8 tap index or None)."""
    cupy = _cupy()
    x_l = _contiguous(x_l)
    if window.kh * window.kw > 256:
        raise ValueError(f"max_pool2d: a {window.kh}x{window.kw} kernel has more taps than the "
                         f"uint8 argmax can number (at most 256)")
    y = cupy.empty((x_l.shape[0], window.oh, window.ow, x_l.shape[3]), dtype=x_l.dtype)
    argmax = cupy.empty(y.shape, dtype=cupy.uint8) if keep_argmax else None
    _launch(_kernel("pool.cu", "max_pool_forward_nhwc", x_l.dtype), y.size,
            [x_l, y, _pointer(argmax), np.int64(y.size), *_pool_shape(window, x_l)])
    return y, argmax


def max_pool_backward(window, gy_l, argmax):
    """gx [N, H, W, C]: each output gradient goes to the input pixel that won its window."""
    cupy = _cupy()
    gy_l = _contiguous(gy_l)
    gx = cupy.empty((window.n, window.h, window.w, gy_l.shape[3]), dtype=gy_l.dtype)
    _launch(_kernel("pool.cu", "max_pool_backward_nhwc", gy_l.dtype), gx.size,
            [gy_l, _contiguous(argmax), gx, np.int64(gx.size), *_pool_shape(window, gx)])
    return gx


def avg_pool_forward(window, x_l, include_pad=False):
    """Channels-last x [N, H, W, C] -> y [N, OH, OW, C], the mean of each window."""
    cupy = _cupy()
    x_l = _contiguous(x_l)
    y = cupy.empty((x_l.shape[0], window.oh, window.ow, x_l.shape[3]), dtype=x_l.dtype)
    _launch(_kernel("pool.cu", "avg_pool_forward_nhwc", x_l.dtype), y.size,
            [x_l, y, np.int64(y.size), *_pool_shape(window, x_l), np.bool_(include_pad)])
    return y


def avg_pool_backward(window, gy_l, include_pad=False):
    """gx [N, H, W, C]: every pixel of a window gets an equal share of its gradient."""
    cupy = _cupy()
    gy_l = _contiguous(gy_l)
    gx = cupy.empty((window.n, window.h, window.w, gy_l.shape[3]), dtype=gy_l.dtype)
    _launch(_kernel("pool.cu", "avg_pool_backward_nhwc", gy_l.dtype), gx.size,
            [gy_l, gx, np.int64(gx.size), *_pool_shape(window, gx), np.bool_(include_pad)])
    return gx


# -- depthwise convolution (minidl.ops.depthwise) --------------------------------------------
def _depthwise_shape(window, x_shape, m):
    """The ints after ``total`` in every depthwise kernel: sizes, m, geometry, padding."""
    n, h, w, c = x_shape
    return [*_ints(h, w, c, m, window.oh, window.ow), *_geometry(window),
            *_ints(window.pad_top, window.pad_left)]


def depthwise_forward(window, x_l, W):
    """Channels-last x [N, H, W, C] (unpadded), W [KH, KW, C, m] -> y [N, OH, OW, C*m]."""
    cupy = _cupy()
    x_l = _contiguous(x_l)
    W = _contiguous(W, x_l.dtype)
    n, c, m = x_l.shape[0], x_l.shape[3], W.shape[3]
    y = cupy.empty((n, window.oh, window.ow, c * m), dtype=x_l.dtype)
    _launch(_kernel("depthwise.cu", "depthwise_forward_nhwc", x_l.dtype), y.size,
            [x_l, W, y, np.int64(y.size), *_depthwise_shape(window, x_l.shape, m)])
    return y


def depthwise_backward_input(window, gy_l, W):
    """gx [N, H, W, C] from gy [N, OH, OW, C*m] and W [KH, KW, C, m]."""
    cupy = _cupy()
    gy_l = _contiguous(gy_l)
    W = _contiguous(W, gy_l.dtype)
    c, m = W.shape[2], W.shape[3]
    gx = cupy.empty((window.n, window.h, window.w, c), dtype=gy_l.dtype)
    _launch(_kernel("depthwise.cu", "depthwise_backward_input_nhwc", gy_l.dtype), gx.size,
            [gy_l, W, gx, np.int64(gx.size), *_depthwise_shape(window, gx.shape, m)])
    return gx


def depthwise_backward_weight(window, x_l, gy_l, m):
    """gW [KH, KW, C, m] from x [N, H, W, C] (unpadded) and gy [N, OH, OW, C*m]."""
    cupy = _cupy()
    x_l = _contiguous(x_l)
    gy_l = _contiguous(gy_l, x_l.dtype)
    c = x_l.shape[3]
    positions = gy_l.size // (c * m)  # N * OH * OW
    chunks = (positions + WEIGHT_CHUNK - 1) // WEIGHT_CHUNK
    partial = cupy.empty((chunks, window.kh, window.kw, c, m), dtype=x_l.dtype)
    _launch(_kernel("depthwise.cu", "depthwise_weight_partial_nhwc", x_l.dtype), partial.size,
            [x_l, gy_l, partial, np.int64(partial.size), *_depthwise_shape(window, x_l.shape, m),
             np.int64(positions), np.int32(WEIGHT_CHUNK)])
    return sum_rows(partial.reshape(chunks, -1)).reshape(partial.shape[1:])


# -- fused bias + activation -----------------------------------------------------------------
def supports_activation(name):
    """True when ``bias_activation`` has a kernel for activation ``name``."""
    return name.lower() in ACTIVATIONS


def _activation_args(name, alpha, dtype):
    key = name.lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"bias_activation: no CUDA kernel for activation {name!r}; "
                         f"supported: {', '.join(ACTIVATIONS)}")
    # DL4J's default alphas are resolved by the caller (ops.activations.resolve): the kernels
    # take the number as it comes, and this module needs nothing from the activations.
    return np.int32(ACTIVATIONS[key]), arithmetic(dtype)(alpha)


def bias_activation_forward(z, b, name, alpha=0.0, out=None):
    """y = f(z + b) for z [..., n_out] (any leading shape), b [n_out] or None.

    ``out`` (optional) receives y and is returned; it may be ``z`` itself (in place).
    """
    cupy = _cupy()
    z = _contiguous(z)
    direct = out is not None and out.flags.c_contiguous
    y = out if direct else cupy.empty_like(z)
    n_out = z.shape[-1] if z.ndim else 1
    b = None if b is None else _contiguous(b, z.dtype)
    _launch(_kernel("bias_activation.cu", "bias_activation_forward", z.dtype), z.size,
            [z, _pointer(b), y, np.int64(z.size), np.int32(n_out),
             *_activation_args(name, alpha, z.dtype)])
    if out is not None and not direct:
        out[...] = y
        return out
    return y


def bias_activation_backward(y, gy, name, alpha=0.0):
    """gz = gy * f'(z + b), computed from the forward's output y. (gb = gz summed over rows.)

    For swish and hardswish (``activations.NEEDS_INPUT``) ``y`` must be z + b itself.
    """
    cupy = _cupy()
    y = _contiguous(y)
    gy = _contiguous(gy, y.dtype)
    gz = cupy.empty_like(y)
    _launch(_kernel("bias_activation.cu", "bias_activation_backward", y.dtype), y.size,
            [y, gy, gz, np.int64(y.size), *_activation_args(name, alpha, y.dtype)])
    return gz


# -- softmax and softmax cross-entropy -------------------------------------------------------
def _rows(a, dtype=None):
    a = _contiguous(a, dtype)
    if a.ndim != 2:
        raise ValueError(f"softmax: expected [batch, classes], got shape {tuple(a.shape)}")
    return a


def softmax(z):
    """Softmax over axis 1 of z [n, k]."""
    z = _rows(z)
    p = _cupy().empty_like(z)
    n, k = z.shape
    _launch_rows(_kernel("softmax_xent.cu", "softmax_forward", z.dtype), n, [z, p, *_ints(n, k)])
    return p


def softmax_backward(p, gy):
    """gz = p * (gy - <gy, p>) per row, for p = softmax(z)."""
    p = _rows(p)
    gy = _rows(gy, p.dtype)
    gz = _cupy().empty_like(p)
    n, k = p.shape
    _launch_rows(_kernel("softmax_xent.cu", "softmax_backward", p.dtype), n,
                 [p, gy, gz, *_ints(n, k)])
    return gz


def softmax_cross_entropy_forward(z, labels):
    """(loss, p): loss = -sum(labels * log softmax(z)) / n as a 0-d array; p = softmax(z)."""
    cupy = _cupy()
    z = _rows(z)
    labels = _rows(labels, z.dtype)
    n, k = z.shape
    p = cupy.empty_like(z)
    row_loss = cupy.empty(n, dtype=z.dtype)
    _launch_rows(_kernel("softmax_xent.cu", "softmax_xent_forward", z.dtype), n,
                 [z, labels, p, row_loss, *_ints(n, k)])
    return row_loss.sum() / z.dtype.type(n), p


def softmax_cross_entropy_backward(p, labels, gy):
    """gz = gy * (p * sum(labels, row) - labels) / n; ``gy`` the (0-d) gradient of the loss."""
    cupy = _cupy()
    p = _rows(p)
    labels = _rows(labels, p.dtype)
    gy = cupy.asarray(gy, dtype=p.dtype).reshape(1)
    gz = cupy.empty_like(p)
    n, k = p.shape
    _launch_rows(_kernel("softmax_xent.cu", "softmax_xent_backward", p.dtype), n,
                 [p, labels, gy, gz, *_ints(n, k)])
    return gz


# -- updaters (IUpdater.step) ------------------------------------------------------------------
def updater_step(name, w, g, states, scalars):
    """w -= the update of updater kernel ``name`` (updaters.cu: ``sgd_step``, ...) for the
    gradient g, advancing the updater's state arrays ``states`` in place; ``scalars`` are its
    hyper-parameters in the kernel's order, rounded here to the arrays' type. w and the states
    are written in place, so they must be contiguous already."""
    for a in (w, *states):
        if not a.flags.c_contiguous or a.shape != w.shape or a.dtype != w.dtype:
            raise ValueError(f"CUDA kernel {name}: expected contiguous {w.dtype} arrays of the "
                             f"parameter's shape {tuple(w.shape)}, got {a.dtype} "
                             f"{tuple(a.shape)}")
    g = _contiguous(g, w.dtype)
    scalar = arithmetic(w.dtype)
    _launch(_kernel("updaters.cu", name, w.dtype), w.size,
            [w, g, *states, np.int64(w.size), *[scalar(s) for s in scalars]])
