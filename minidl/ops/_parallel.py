"""A small thread pool for NumPy elementwise passes on the CPU.

NumPy's elementwise loops run on one core, while BLAS calls use all of them; on a multi-core
machine a large memory-bound pass (a Winograd transform, a ReLU over a whole activation) runs
about twice as fast split into slices on two threads. NumPy releases the GIL inside its loops,
so Python threads are enough.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from minidl.ops import _budget

# Threads for the passes; 1 runs everything in the calling thread. Why a cap: the passes are
# memory-bound, and a few cores already use most of a machine's memory bandwidth, so threads
# beyond that add hand-offs and smaller slices without speed. Why 4: a guess, not a measurement.
# It came with the Winograd transforms (commit 427c82a; ``git log -S "min(4"``), which were
# timed on 2 cores, where the cap never applies; measure before raising or lowering it.
THREADS = min(4, os.cpu_count() or 1)
_PREFIX = "minidl-pool"
_pool = None


def run(tasks):
    """Call every callable in ``tasks`` (on the pool when there are several) and wait.

    A task that itself calls ``run`` gets its tasks run in its own thread: waiting on the pool
    from inside it could leave every pool thread waiting for a free one.
    """
    global _pool
    if len(tasks) == 1 or threading.current_thread().name.startswith(_PREFIX):
        for task in tasks:
            task()
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix=_PREFIX)
    for future in [_pool.submit(task) for task in tasks]:
        future.result()


def cuts(size, parts):
    """Split range(size) into up to ``parts`` contiguous slices of nearly equal length."""
    parts = max(1, min(parts, size))
    bounds = [round(i * size / parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


# An elementwise pass over an array of at least this many numbers is split over the threads,
# in slices along its first axis of about SLICE_NUMBERS each (1 MB of float32: in cache while
# every step of the pass reads and writes the slice).
PARALLEL_SIZE = 2**20
SLICE_NUMBERS = 2**18


def each_slice(pass_, a):
    """Call ``pass_(s)`` for slices ``s`` of ``a``'s first axis that together cover ``a``: once
    with ``Ellipsis`` for a small or a device array, else on slices of about ``SLICE_NUMBERS``
    numbers, each thread doing a run of consecutive ones."""
    if not isinstance(a, np.ndarray) or a.ndim == 0 or a.size < PARALLEL_SIZE:
        pass_(Ellipsis)
        return
    n = a.shape[0]
    step = max(1, SLICE_NUMBERS * n // a.size)
    run([lambda part=part: [pass_(slice(i, min(i + step, part.stop)))
                            for i in range(part.start, part.stop, step)]
         for part in cuts(n, THREADS)])


def run_blocks(pass_, n, n_rows, row_bytes, budget):
    """Call ``pass_(images, rows)`` (two slices) on every block of ``_budget.bands``: n images
    of ``n_rows`` rows of ``row_bytes`` each, cut into blocks of about ``budget`` bytes. The
    blocks are shared out among the threads in runs of consecutive ones, each thread doing its
    run in turn: a pass of several sweeps over a block that fits the core's cache reads main
    memory once instead of once per sweep."""
    blocks = [(slice(start, stop), slice(*rows))
              for start, stop, rows in _budget.bands(n, n_rows, row_bytes, budget)]
    run([lambda run_=blocks[part]: [pass_(images, rows) for images, rows in run_]
         for part in cuts(len(blocks), THREADS)])
