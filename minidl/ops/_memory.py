"""A cache of large CPU buffers, so that activations reuse memory instead of faulting it in.

A NumPy array of tens or hundreds of MB is fresh memory from the operating system: the kernel
faults in and zeroes every page the first time it is written, and takes the memory back as
soon as the array dies. A VGG16 forward at batch 16 writes about 3 GB of activations, padded
inputs and scratch that way, every batch: without reuse the kernel zeroes all of it again each
time, a pass over memory as large as the activations themselves, and a sizeable share of the
forward's time. Frameworks keep freed blocks for reuse (PyTorch's and CuPy's caching
allocators); this is the smallest such thing for NumPy.

``empty(shape, dtype)`` returns an array viewing the smallest cached block that is large enough
and that no live array uses any more, or a new block. NumPy points every view of an array
(slice, reshape, transpose) straight at the array that owns the memory, so a block's reference
count tells whether anything still sees it: the cache's own list is the only reference to an
idle block. Requests under ``MIN_BYTES`` go to NumPy directly (malloc reuses small blocks well
by itself). At most ``IDLE_LIMIT`` bytes of idle blocks are kept between uses; ``release()``
drops them all.

The price is memory: idle blocks stay allocated while other arrays are live, so the peak is a
little higher (``python -m bench.vgg_forward`` reports the forward's time and peak memory).
CuPy arrays need none of this: CuPy keeps its own pool of device memory.
"""

import bisect
import math
import sys
import threading

import numpy as np

from minidl.backend import get_array_module

MIN_BYTES = 1 << 20
IDLE_LIMIT = 1 << 30
_blocks = []  # uint8 arrays that own the cached memory
_lock = threading.Lock()


def empty(shape, dtype, xp=np):
    """``xp.empty(shape, dtype)``, C-contiguous; a large NumPy one on cached memory."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if xp is not np or nbytes < MIN_BYTES:
        return xp.empty(shape, dtype=dtype)
    with _lock:
        block = _take(nbytes)
    return block[:nbytes].view(dtype).reshape(shape)


def empty_like(a, dtype=None):
    """``xp.empty_like(a, dtype)``: a's shape and memory order (a channels-last NCHW view stays
    channels-last, so that passes over both arrays read and write them in the same order); a
    large NumPy one on cached memory."""
    order = sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis]))  # outermost first
    block = empty([a.shape[axis] for axis in order], a.dtype if dtype is None else dtype,
                  get_array_module(a))
    return block.transpose(np.argsort(order))


def zeros(shape, dtype, xp=np):
    """``xp.zeros(shape, dtype)``; a large NumPy one on cached memory."""
    a = empty(shape, dtype, xp)
    a.fill(0)
    return a


def copy(a):
    """A C-contiguous copy of NumPy or CuPy array ``a``; a large NumPy one on cached memory."""
    out = empty(a.shape, a.dtype, get_array_module(a))
    out[...] = a
    return out


def _idle(i):
    # Exactly two references: the list's, and getrefcount's own argument. (Callers go by
    # index, never holding a block in a variable, which would count as a third.)
    return sys.getrefcount(_blocks[i]) == 2


def _size(block):
    return block.size


def _take(nbytes):
    """The smallest idle block of at least ``nbytes``, or a new one. ``_blocks`` is kept in
    order of size, so the search starts at the first block large enough and stops at the
    first idle one (a training step holds hundreds of blocks, most of them in use)."""
    for i in range(bisect.bisect_left(_blocks, nbytes, key=_size), len(_blocks)):
        if _idle(i):
            return _blocks[i]
    _trim(IDLE_LIMIT - nbytes)
    i = bisect.bisect_right(_blocks, nbytes, key=_size)
    _blocks.insert(i, np.empty(nbytes, np.uint8))
    return _blocks[i]


def _trim(limit):
    """Drop idle blocks, largest first, until at most ``limit`` idle bytes remain."""
    idle = sorted((i for i in range(len(_blocks)) if _idle(i)), key=lambda i: _blocks[i].size)
    total = sum(_blocks[i].size for i in idle)
    dropped = set()
    while idle and total > max(limit, 0):
        i = idle.pop()
        total -= _blocks[i].size
        dropped.add(i)
    _blocks[:] = [_blocks[i] for i in range(len(_blocks)) if i not in dropped]


def release():
    """Give every idle cached block back to the operating system."""
    with _lock:
        _trim(0)


def cached_bytes():
    """(bytes in use, bytes idle) in the cache's blocks."""
    with _lock:
        sizes = [(_blocks[i].size, _idle(i)) for i in range(len(_blocks))]
    return sum(s for s, idle in sizes if not idle), sum(s for s, idle in sizes if idle)
