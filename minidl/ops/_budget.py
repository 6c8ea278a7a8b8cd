"""Splitting work into blocks that fit a byte budget.

A convolution builds a large temporary per block of its batch (im2col's columns, Winograd's
transformed tiles). Doing the batch a block at a time bounds the memory, and a block small
enough stays in cache between the pass that writes it and the GEMM that reads it. Both ops
split the same way, with these two functions; each chooses its own budget. Passes that sweep
an array several times (pooling, Winograd's transforms) cut it the same way into pieces that
stay in cache, shared among the threads (``_parallel.run_blocks``).
"""


def runs(n, item_bytes, budget):
    """Split items 0..n-1 into runs (start, stop) of consecutive items within ``budget`` bytes.

    Every run but the last has the same length; an item larger than the budget is a run alone.
    """
    step = max(1, budget // item_bytes)
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def bands(n, n_rows, row_bytes, budget):
    """Split n images of ``n_rows`` rows each into blocks of about ``budget`` bytes.

    Several whole images per block when one image fits the budget, otherwise bands of rows of
    one image. Returns a list of (start, stop, (row0, row1)): images start..stop-1, rows
    row0..row1-1. Either way a block is one contiguous run of a row-major [n, n_rows, ...] array.
    """
    if row_bytes * n_rows <= budget:
        return [(start, stop, (0, n_rows)) for start, stop in runs(n, row_bytes * n_rows, budget)]
    return [(image, image + 1, band) for image in range(n)
            for band in runs(n_rows, row_bytes, budget)]
