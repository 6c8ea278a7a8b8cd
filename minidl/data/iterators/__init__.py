"""Dataset iterators: minibatches one after another, epoch after epoch.

Both DL4J and Python styles work::

    it = ArrayDataSetIterator(x, y, batch_size=32, shuffle=True, seed=42)
    for batch in it:                 # Python: one epoch (resets first if already used)
        ...
    it.reset()
    while it.has_next():             # DL4J
        batch = it.next()

A pre-processor (anything with ``pre_process(dataset)``, e.g. a normalizer) set with
``set_pre_processor`` is applied to every batch handed out. It may change the batch in place:
batches are new arrays, never views of the source data.

Shuffling draws a new order at every ``reset()`` from one generator seeded at construction
(``seed``: an int, a ``random.Random`` or a NumPy Generator, see ``numpy_rng``), so the sequence
of epochs is the same for the same seed.

Wrappers take another iterator: ``AsyncDataSetIterator`` prefetches its batches on a background
thread, ``MultipleEpochsIterator`` repeats it. ``ExistingMiniBatchDataSetIterator`` reads the
files ``DataSet.save`` wrote, one batch per file.

The families, one module each: ``base`` (what every iterator shares, DataSetIterator),
``arrays`` (over DataSets and arrays in memory), ``existing`` (over ready-made batches, in a
list or in files), ``wrappers`` (over another iterator: prefetching, epochs) and ``multi``
(MultiDataSet iterators).
"""

from minidl.data.iterators.base import BaseIterator, DataSetIterator, reset_if_supported
from minidl.data.iterators.arrays import (ArrayDataSetIterator, INDArrayDataSetIterator,
                                          ListDataSetIterator)
from minidl.data.iterators.existing import (ExistingDataSetIterator,
                                            ExistingMiniBatchDataSetIterator)
from minidl.data.iterators.wrappers import AsyncDataSetIterator, MultipleEpochsIterator
from minidl.data.iterators.multi import (ListMultiDataSetIterator, MultiDataSetIterator,
                                         MultiDataSetIteratorAdapter)
