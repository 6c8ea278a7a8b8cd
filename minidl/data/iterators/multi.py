"""MultiDataSet iterators: batches with several inputs and outputs, for ComputationGraphs."""

from minidl.data.dataset import MultiDataSet
from minidl.data.iterators.base import BaseIterator, IndexedSource


class MultiDataSetIterator(BaseIterator):
    """Abstract DL4J ``MultiDataSetIterator``: batches of ``MultiDataSet``."""


class ListMultiDataSetIterator(IndexedSource, MultiDataSetIterator):
    """Batches from a MultiDataSet or a list of MultiDataSets (same rules as
    ``ListDataSetIterator``)."""

    def __init__(self, data, batch_size=10, shuffle=False, seed=None):
        MultiDataSetIterator.__init__(self)
        if isinstance(data, MultiDataSet):
            self._source, n = data, data.num_examples()
        else:
            self._source = list(data)
            if not self._source or not all(isinstance(d, MultiDataSet) for d in self._source):
                raise ValueError("ListMultiDataSetIterator needs a MultiDataSet or a non-empty "
                                 "list of MultiDataSets")
            n = len(self._source)
        self._init_order(n, batch_size, shuffle, seed)

    def _take(self, index):
        if isinstance(self._source, MultiDataSet):
            return self._source._take_rows(index)
        return MultiDataSet.merge([self._source[i] for i in index])

    def total_examples(self):
        """Examples per epoch."""
        if isinstance(self._source, MultiDataSet):
            return self.n_items
        return sum(d.num_examples() for d in self._source)


class MultiDataSetIteratorAdapter(MultiDataSetIterator):
    """A DataSetIterator seen as a MultiDataSetIterator (one input, one output), as in DL4J."""

    def __init__(self, iterator):
        super().__init__()
        self.iterator = iterator

    def has_next(self):
        return self.iterator.has_next()

    def _next_batch(self, num=None):
        return MultiDataSet.from_dataset(self.iterator.next(num))

    def reset(self):
        self.iterator.reset()
        self._started = False

    def reset_supported(self):
        return self.iterator.reset_supported()

    def batch(self):
        """The wrapped iterator's batch size."""
        return self.iterator.batch()
