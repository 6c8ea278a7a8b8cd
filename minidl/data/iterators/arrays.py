"""Iterators over data in memory: a DataSet or a list of them (``ListDataSetIterator``), arrays
(``ArrayDataSetIterator``) and (features, labels) pairs (``INDArrayDataSetIterator``)."""

from minidl.backend import get_array_module
from minidl.data.dataset import DataSet
from minidl.data.iterators.base import DataSetIterator, IndexedSource


class ListDataSetIterator(IndexedSource, DataSetIterator):
    """Batches from a DataSet or a list of DataSets (DL4J's ``ListDataSetIterator``, batch 10).

    From one DataSet, each batch is ``batch_size`` examples. From a list, as in DL4J, each batch
    merges ``batch_size`` items of the list: a list of single examples (``ds.as_list()``) gives
    batches of examples; a list of ready-made batches with ``batch_size=1`` gives them one by one.
    """

    def __init__(self, data, batch_size=10, shuffle=False, seed=None):
        if isinstance(data, DataSet):
            self._source, n = data, data.num_examples()
        else:
            self._source = list(data)
            if not self._source or not all(isinstance(d, DataSet) for d in self._source):
                raise ValueError("ListDataSetIterator needs a DataSet or a non-empty list of "
                                 "DataSets")
            n = len(self._source)
        first = data if isinstance(data, DataSet) else self._source[0]
        DataSetIterator.__init__(self, first.label_names)
        self._init_order(n, batch_size, shuffle, seed)

    def _take(self, index):
        if isinstance(self._source, DataSet):
            return self._source._take_rows(index)
        return DataSet.merge([self._source[i] for i in index])

    def _first(self):
        return self._source if isinstance(self._source, DataSet) else self._source[0]

    def total_examples(self):
        """Examples per epoch."""
        if isinstance(self._source, DataSet):
            return self.n_items
        return sum(d.num_examples() for d in self._source)

    def input_columns(self):
        return self._first().num_inputs()

    def total_outcomes(self):
        return self._first().num_outcomes()


class ArrayDataSetIterator(ListDataSetIterator):
    """Batches of rows of ``features`` [n, ...] and ``labels`` [n, n_out] arrays, optionally
    reshuffled every epoch with a seeded generator (minidl's; DL4J builds a ListDataSetIterator
    on a DataSet for this)."""

    def __init__(self, features, labels, batch_size, shuffle=False, seed=None, label_names=None):
        dataset = DataSet(features, labels)
        dataset.set_label_names(label_names)
        super().__init__(dataset, batch_size, shuffle, seed)


class INDArrayDataSetIterator(ArrayDataSetIterator):
    """DL4J's ``INDArrayDataSetIterator(Iterable<Pair<INDArray, INDArray>>, batchSize)``:
    batches of ``batch_size`` (features, labels) pairs, in order.

    Each pair is one example: its arrays are vectors ([n_in], [n_out]) or have an example axis
    of 1 ([1, n_in], [1, channels, height, width]), and a batch stacks ``batch_size`` of them
    as DL4J's ``Nd4j.vstack`` does. The pairs are read once, when the iterator is made, so a
    generator works and ``reset()`` starts again. Unlike DL4J, which drops the examples that do
    not fill a last batch, the last batch may be smaller.
    """

    def __init__(self, pairs, batch_size):
        features, labels = _stack_pairs(pairs)
        super().__init__(features, labels, batch_size)


def _stack_pairs(pairs):
    """(features, labels): the pairs' arrays stacked along a new example axis 0."""
    if hasattr(pairs, "shape"):
        raise TypeError("INDArrayDataSetIterator takes an iterable of (features, labels) pairs, "
                        "as DL4J's does, not an array; for whole arrays use "
                        "ArrayDataSetIterator(features, labels, batch_size)")
    features, labels = [], []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"INDArrayDataSetIterator: item {i} should be a (features, labels) "
                            f"pair, got {type(pair).__name__}")
        features.append(_one_example(pair[0], i, "features"))
        labels.append(_one_example(pair[1], i, "labels"))
    if not features:
        raise ValueError("INDArrayDataSetIterator: the iterable holds no (features, labels) pairs")
    return _concat_examples(features, "features"), _concat_examples(labels, "labels")


def _one_example(array, i, what):
    """``array`` as a [1, ...] array: a vector gains the example axis, [1, ...] stays."""
    if array is None or not hasattr(array, "shape"):
        raise TypeError(f"INDArrayDataSetIterator: the {what} of pair {i} should be an array, "
                        f"got {type(array).__name__}")
    if array.ndim == 1:
        return array[None]
    if array.ndim == 0 or array.shape[0] != 1:
        raise ValueError(f"INDArrayDataSetIterator: each pair is one example, so its {what} "
                         f"should be a vector or have a first axis of 1 ([1, ...]); pair {i} "
                         f"has shape {tuple(array.shape)}")
    return array


def _concat_examples(arrays, what):
    shapes = sorted({tuple(a.shape) for a in arrays})
    if len(shapes) > 1:
        raise ValueError(f"INDArrayDataSetIterator: every pair's {what} needs the same shape, "
                         f"got {shapes}")
    return get_array_module(*arrays).concatenate(arrays, axis=0)
