"""Iterators: batch sizes, the last partial batch, seeded shuffling per epoch, reset, both
iteration styles, pre-processors.

The tests that hand out batches of data take the ``device`` fixture: the arrays go in with
``to_device``, every batch must stay on that device, and rows come back with ``host``.
"""

import numpy as np
import pytest

from devices import host
from minidl.backend import device_of, to_device
from minidl.data import (ArrayDataSetIterator, DataSet, ExistingDataSetIterator,
                         INDArrayDataSetIterator, ListDataSetIterator, ListMultiDataSetIterator,
                         MultiDataSet, MultiDataSetIteratorAdapter)

N = 10
X = np.arange(N * 2, dtype=np.float32).reshape(N, 2)  # row r is [2r, 2r + 1]
Y = np.eye(3, dtype=np.float32)[np.arange(N) % 3]


def rows(batch):
    """The original row numbers in a batch (from the first feature column)."""
    return (host(batch.features)[:, 0] // 2).astype(int).tolist()


def on(device, batches):
    """True when every array of every batch (DataSets or MultiDataSets) lives on ``device``."""
    return all(device_of(a) == device for b in batches for _, a in b._arrays() if a is not None)


def test_batches_and_last_partial_batch(device):
    it = ArrayDataSetIterator(to_device(X), to_device(Y), batch_size=4)
    batches = list(it)
    assert [b.num_examples() for b in batches] == [4, 4, 2]
    assert on(device, batches)
    assert [rows(b) for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(host(batches[2].labels), Y[8:])
    assert len(it) == 3 and it.batch() == 4 and it.total_examples() == N
    assert it.input_columns() == 2 and it.total_outcomes() == 3


def test_java_style_and_reset(device):
    it = ArrayDataSetIterator(to_device(X), to_device(Y), 3)
    seen = []
    while it.hasNext():
        batch = it.next()
        assert on(device, [batch])
        seen.append(rows(batch))
    assert seen == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    with pytest.raises(StopIteration, match="call reset"):
        it.next()
    it.reset()
    assert it.has_next() and rows(it.next()) == [0, 1, 2]
    assert rows(it.next(5)) == [3, 4, 5, 6, 7]  # DL4J's next(num)


def test_python_iteration_restarts_a_used_iterator(device):
    it = ArrayDataSetIterator(to_device(X), to_device(Y), 4)
    it.next()
    assert [rows(b) for b in it] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sum(1 for _ in it) == 3  # and again for the next epoch


def test_shuffle_is_a_permutation_per_epoch_and_seeded(device):
    def epochs(seed, n=3):
        it = ArrayDataSetIterator(to_device(X), to_device(Y), 4, shuffle=True, seed=seed)
        return [[r for b in it for r in rows(b)] for _ in range(n)]

    first = epochs(7)
    assert all(sorted(e) == list(range(N)) for e in first)
    assert first[0] != first[1] != first[2]            # a new order every epoch
    assert first != [list(range(N))] * 3
    assert epochs(7) == first                         # same seed, same epochs
    assert epochs(8) != first
    it = ArrayDataSetIterator(to_device(X), to_device(Y), 4, shuffle=True, seed=7)
    for b in it:  # labels stay with their rows
        assert on(device, [b])
        np.testing.assert_array_equal(host(b.labels), Y[rows(b)])


def test_array_iterator_label_names():
    it = ArrayDataSetIterator(X, Y, 5, label_names=["a", "b", "c"])
    assert it.get_labels() == ["a", "b", "c"]
    assert it.next().get_label_names() == ["a", "b", "c"]


def test_indarray_iterator_batches_pairs_of_one_example(device):
    # DL4J's INDArrayDataSetIterator(Iterable<Pair<INDArray, INDArray>>, batchSize): vectors or
    # [1, ...] rows, batch_size pairs per batch; here the last, smaller batch is kept
    vectors = [(to_device(X[r]), to_device(Y[r])) for r in range(N)]
    rows_1 = ((to_device(X[r:r + 1]), to_device(Y[r:r + 1])) for r in range(N))  # a generator
    for pairs in (vectors, rows_1):
        it = INDArrayDataSetIterator(pairs, 4)
        for _ in range(2):  # read once, so a generator resets too
            batches = list(it)
            assert on(device, batches)
            assert [rows(b) for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
            np.testing.assert_array_equal(host(batches[1].labels), Y[4:8])
        assert it.batch() == 4 and it.input_columns() == 2 and it.total_outcomes() == 3


def test_indarray_iterator_pairs_of_images():
    images = np.arange(3 * 2 * 4 * 4, dtype=np.float32).reshape(3, 1, 2, 4, 4)  # [1, C, H, W] each
    it = INDArrayDataSetIterator([(images[i], Y[i:i + 1]) for i in range(3)], 2)
    first = it.next()
    assert first.features.shape == (2, 2, 4, 4)
    np.testing.assert_array_equal(first.features, images[:2, 0])


@pytest.mark.parametrize("pairs, error, message", [
    (X, TypeError, r"iterable of \(features, labels\) pairs.*ArrayDataSetIterator"),
    ([], ValueError, "holds no"),
    ([(X[0], Y[0], 1)], TypeError, "item 0 should be a"),
    ([(X[0], None)], TypeError, "labels of pair 0 should be an array"),
    ([(X[:2], Y[:2])], ValueError, r"pair 0 has shape \(2, 2\)"),
    ([(X[0], Y[0]), (X[0, :1], Y[0])], ValueError, "every pair's features needs the same shape"),
])
def test_indarray_iterator_errors_name_it(pairs, error, message):
    with pytest.raises(error, match=f"^INDArrayDataSetIterator.*{message}"):
        INDArrayDataSetIterator(pairs, 2)


def test_list_iterator_over_examples_and_over_batches(device):
    examples = DataSet(to_device(X), to_device(Y)).as_list()
    it = ListDataSetIterator(examples, 4)
    batches = list(it)
    assert on(device, batches)
    assert [rows(b) for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    ready = DataSet(to_device(X), to_device(Y)).batch_by(3)
    it = ListDataSetIterator(ready, 1)
    batches = list(it)
    assert on(device, batches)
    assert [rows(b) for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert it.total_examples() == N
    assert ListDataSetIterator(DataSet(X, Y)).batch() == 10  # DL4J's default batch size
    with pytest.raises(ValueError, match="needs a DataSet or a non-empty list"):
        ListDataSetIterator([])


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ArrayDataSetIterator(X, Y, 0)


class AddOne:
    """A pre-processor that changes the batch in place (the unsafe kind)."""

    def pre_process(self, dataset):
        dataset.features += 1


def test_pre_processor_applies_to_every_batch_and_never_touches_the_source(device):
    x = to_device(X.copy())
    it = ArrayDataSetIterator(x, to_device(Y), 4)
    it.set_pre_processor(AddOne())
    for _ in range(2):
        batches = list(it)
        assert on(device, batches)
        got = np.concatenate([host(b.features) for b in batches])
        np.testing.assert_array_equal(got, X + 1)
    np.testing.assert_array_equal(host(x), X)
    with pytest.raises(TypeError, match="needs a pre_process"):
        it.set_pre_processor(object())


def test_existing_iterator_hands_out_batches_as_they_are(device):
    batches = DataSet(to_device(X), to_device(Y)).batch_by(4)
    it = ExistingDataSetIterator(batches)
    assert [b is orig for b, orig in zip(it, batches)] == [True, True, True]
    assert it.reset_supported() and it.batch() == 4 and it.total_examples() == N
    it.set_pre_processor(AddOne())
    for _ in range(2):  # the stored batches are not normalised twice
        got = list(it)
        assert on(device, got)
        np.testing.assert_array_equal(np.concatenate([host(b.features) for b in got]), X + 1)
    one_shot = ExistingDataSetIterator(iter(batches))
    assert not one_shot.reset_supported() and len(list(one_shot)) == 3
    with pytest.raises(ValueError, match="cannot be reset"):
        one_shot.reset()


def test_multidataset_iterators(device):
    x2 = X * 10
    mds = MultiDataSet([to_device(X), to_device(x2)], [to_device(Y)])
    it = ListMultiDataSetIterator(mds, 4, shuffle=True, seed=1)
    batches = list(it)
    assert [b.num_examples() for b in batches] == [4, 4, 2]
    assert on(device, batches)
    for b in batches:
        np.testing.assert_array_equal(host(b.get_features(1)), host(b.get_features(0)) * 10)
    order = np.concatenate([host(b.get_features(0))[:, 0] // 2 for b in batches]).astype(int)
    assert sorted(order.tolist()) == list(range(N))
    adapter = MultiDataSetIteratorAdapter(ArrayDataSetIterator(to_device(X), to_device(Y), 6))
    got = list(adapter)
    assert [type(b).__name__ for b in got] == ["MultiDataSet", "MultiDataSet"]
    assert on(device, got)
    np.testing.assert_array_equal(host(got[1].get_labels(0)), Y[6:])
    assert adapter.batch() == 6 and adapter.reset_supported()
