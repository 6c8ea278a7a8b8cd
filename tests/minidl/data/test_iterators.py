"""Iterators: batch sizes, the last partial batch, seeded shuffling per epoch, reset, both
iteration styles, pre-processors.

The tests that hand out batches of data take the ``device`` fixture: the arrays go in with
``to_device``, every batch must stay on that device, and rows come back with ``host``.
"""

import gc
import random

import numpy as np
import pytest

from devices import host
from minidl import (Activation, LossFunction, MultiLayerNetwork, NeuralNetConfiguration,
                    OutputLayer, Sgd)
from minidl.backend import device_of, to_device
from minidl.data import (ArrayDataSetIterator, AsyncDataSetIterator, DataSet,
                         ExistingDataSetIterator, ExistingMiniBatchDataSetIterator,
                         INDArrayDataSetIterator, ListDataSetIterator, ListMultiDataSetIterator,
                         MultiDataSet, MultiDataSetIteratorAdapter, MultipleEpochsIterator)

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


def test_shuffle_seed_may_be_a_random_random(device):
    # DL4J code passes a java.util.Random; a seeded random.Random gives a repeatable order
    def epochs(seed):
        it = ArrayDataSetIterator(to_device(X), to_device(Y), 4, shuffle=True, seed=seed)
        return [[rows(b) for b in it] for _ in range(2)]
    assert epochs(random.Random(3)) == epochs(random.Random(3))
    first, second = epochs(random.Random(3))
    assert first != second and sorted(sum(first, [])) == list(range(N))


# -- ExistingMiniBatchDataSetIterator, AsyncDataSetIterator: DL4J's FeaturizedPreSave and
#    FitFromFeaturized examples save featurized batches and train on them again --------------

NAMES = ["daisy", "dandelion", "roses"]


def featurized_batches(batch_size=4):
    """What FeaturizedPreSave saves: one DataSet per batch, with the class names."""
    it = ArrayDataSetIterator(X, Y, batch_size, label_names=NAMES)
    return list(it)


def save_like_featurized_pre_save(folder, batches, name="flowers-fc2-train"):
    folder.mkdir(exist_ok=True)
    for i, batch in enumerate(batches):  # currentFeaturized.save(new File(..., name-i.bin))
        batch.save(folder / f"{name}-{i}.bin")


def test_featurized_pre_save_then_fit_from_featurized_round_trip(tmp_path):
    saved = featurized_batches()
    save_like_featurized_pre_save(tmp_path / "trainFolder", saved)
    (tmp_path / "trainFolder" / "notes.txt").write_text("another file is no batch")
    existing = ExistingMiniBatchDataSetIterator(tmp_path / "trainFolder",
                                                "flowers-fc2-train-%d.bin")
    train = AsyncDataSetIterator(existing)
    for _ in range(2):  # two epochs, read back on the background thread
        got = list(train)
        assert len(got) == len(saved) == 3
        for back, original in zip(got, saved):
            np.testing.assert_array_equal(back.features, original.features)
            np.testing.assert_array_equal(back.labels, original.labels)
            assert back.features.dtype == original.features.dtype
            assert back.get_label_names() == NAMES
    assert train.get_labels() == NAMES and train.total_examples() == N
    assert (train.batch(), train.input_columns(), train.total_outcomes()) == (4, 2, 3)

    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).list()
            .layer(OutputLayer(n_in=2, n_out=3, loss=LossFunction.MCXENT,
                               activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    net.fit(train, 2)                                  # FitFromFeaturized: model.fit(trainIter)
    assert net.get_iteration_count() == 6
    evaluation = net.evaluate(train)                   # the class names come with the files
    assert evaluation.labels_list == NAMES and "daisy" in evaluation.stats()
    train.shutdown()


def test_existing_mini_batches_use_dl4j_names_and_stop_at_the_first_missing_number(tmp_path):
    batches = featurized_batches(batch_size=3)                    # 3, 3, 3, 1 examples
    for i in (0, 1, 3):                                           # number 2 is missing
        batches[i].save(tmp_path / f"dataset-{i}.bin")           # DL4J's DEFAULT_PATTERN
    it = ExistingMiniBatchDataSetIterator(tmp_path)
    assert ExistingMiniBatchDataSetIterator.DEFAULT_PATTERN == "dataset-%d.bin"
    assert len(it) == 2 and it.has_next()
    assert [rows(it.next()), rows(it.next())] == [[0, 1, 2], [3, 4, 5]]   # DL4J's style
    assert not it.has_next()
    with pytest.raises(StopIteration):
        it.next()
    batches[2].save(tmp_path / "dataset-2.bin")
    it.reset()                                                    # counts the files again
    assert [rows(b) for b in it] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert it.total_examples() == N and it.batch() == 3 and it.get_labels() == NAMES
    it.reset()
    with pytest.raises(ValueError, match="next\\(num\\) is not supported"):
        it.next(2)


def test_existing_mini_batches_pre_processor(tmp_path):
    save_like_featurized_pre_save(tmp_path, featurized_batches(), "mnist-train")
    it = ExistingMiniBatchDataSetIterator(tmp_path, "mnist-train-%d.bin")
    it.set_pre_processor(AddOne())
    for _ in range(2):
        np.testing.assert_array_equal(np.concatenate([b.features for b in it]), X + 1)


def test_existing_mini_batches_errors_name_the_folder_and_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder .*nowhere' does not exist"):
        ExistingMiniBatchDataSetIterator(tmp_path / "nowhere")
    save_like_featurized_pre_save(tmp_path, featurized_batches())
    with pytest.raises(FileNotFoundError, match="no file 'dataset-0.bin' in .*numbered from 0.*"
                                                "'flowers-fc2-train-0.bin'"):
        ExistingMiniBatchDataSetIterator(tmp_path)
    with pytest.raises(ValueError, match="pattern 'flowers.bin' should hold one %d"):
        ExistingMiniBatchDataSetIterator(tmp_path, "flowers.bin")


class FailingIterator(ListDataSetIterator):
    """Batches of X, Y until batch ``fail_at``, which raises (a disk that goes away)."""

    def __init__(self, fail_at, batch_size=2):
        super().__init__(DataSet(X, Y), batch_size)
        self.fail_at, self.handed_out = fail_at, 0

    def _next_batch(self, num=None):
        if self.handed_out == self.fail_at:
            raise OSError("disk gone")
        self.handed_out += 1
        return super()._next_batch(num)

    def reset(self):
        super().reset()
        self.handed_out = 0


def test_async_iterator_hands_out_the_same_batches_and_resets(device):
    base = ArrayDataSetIterator(to_device(X), to_device(Y), 3)
    it = AsyncDataSetIterator(base, queue_size=1)
    assert it.queue_size == 2                               # DL4J's minimum
    first = [rows(b) for b in it]
    assert first == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    it.reset()
    assert rows(it.next()) == [0, 1, 2]                     # mid-epoch ...
    it.reset()
    batches = list(it)                                      # ... and a reset starts again
    assert [rows(b) for b in batches] == first and on(device, batches)
    assert not it.async_supported() and it.reset_supported()
    it.reset()
    with pytest.raises(ValueError, match="next\\(num\\) is not supported"):
        it.next(2)
    used_up = ArrayDataSetIterator(X, Y, 5)
    list(used_up)
    assert len(list(AsyncDataSetIterator(used_up))) == 2   # DL4J resets a used-up iterator
    with pytest.raises(TypeError, match="wraps an iterator with has_next"):
        AsyncDataSetIterator([DataSet(X, Y)])


def test_async_iterator_raises_the_producer_exception_to_the_consumer():
    it = AsyncDataSetIterator(FailingIterator(fail_at=2))
    got = []
    with pytest.raises(OSError, match="disk gone"):
        for batch in it:
            got.append(rows(batch))
    assert got == [[0, 1], [2, 3]]                          # the batches before the failure
    with pytest.raises(OSError, match="disk gone"):        # and again, until reset
        it.has_next()
    it.iterator.fail_at = None
    it.reset()
    assert len(list(it)) == 5


def test_async_iterator_stopped_early_leaves_no_thread_behind():
    it = AsyncDataSetIterator(ArrayDataSetIterator(X, Y, 1), queue_size=2)
    for _ in it:
        break                         # the thread has filled the queue and waits for room
    thread = it._thread
    assert thread.daemon and thread.is_alive()
    del it
    gc.collect()                      # a dropped iterator stops its thread
    thread.join(timeout=30)
    assert not thread.is_alive()

    with AsyncDataSetIterator(ArrayDataSetIterator(X, Y, 1), queue_size=2) as it:
        it.next()
        thread = it._thread
    assert not thread.is_alive() and not it.has_next()     # shut down at the end of the block
    it.reset()
    assert len(list(it)) == N


def test_async_iterator_pre_processor_never_changes_the_wrapped_batches():
    batches = DataSet(X, Y).batch_by(4)
    it = AsyncDataSetIterator(ExistingDataSetIterator(batches))
    it.set_pre_processor(AddOne())
    for _ in range(2):
        np.testing.assert_array_equal(np.concatenate([b.features for b in it]), X + 1)
    np.testing.assert_array_equal(np.concatenate([b.features for b in batches]), X)


def test_multiple_epochs_iterator_repeats_the_wrapped_iterator(device):
    it = MultipleEpochsIterator(3, ArrayDataSetIterator(to_device(X), to_device(Y), 4))
    batches = list(it)
    assert [rows(b) for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 3
    assert on(device, batches)
    assert it.total_examples() == N and it.batch() == 4     # one pass's, as in DL4J
    it.reset()
    assert len(list(it)) == 9
    whole = MultipleEpochsIterator(2, DataSet(X, Y))        # DL4J's (numEpochs, DataSet)
    assert [b.num_examples() for b in whole] == [N, N]


def test_multiple_epochs_iterator_pre_processor_and_arguments():
    batches = DataSet(X, Y).batch_by(5)
    it = MultipleEpochsIterator(2, ExistingDataSetIterator(batches))
    it.set_pre_processor(AddOne())
    got = np.concatenate([b.features for b in it])
    np.testing.assert_array_equal(got, np.concatenate([X + 1, X + 1]))  # not X + 2 the 2nd time
    with pytest.raises(TypeError, match="the number of epochs comes first, as in DL4J"):
        MultipleEpochsIterator(ArrayDataSetIterator(X, Y, 4), 3)
    with pytest.raises(ValueError, match="num_epochs must be >= 1, got 0"):
        MultipleEpochsIterator(0, ArrayDataSetIterator(X, Y, 4))
    with pytest.raises(ValueError, match="2 epochs need an iterator that can be reset"):
        MultipleEpochsIterator(2, ExistingDataSetIterator(iter(batches)))


def test_a_network_fitted_on_multiple_epochs_counts_one_epoch():
    # why DL4J deprecates MultipleEpochsIterator for fit(iterator, numEpochs)
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).list()
            .layer(OutputLayer(n_in=2, n_out=3, loss=LossFunction.MCXENT,
                               activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    net.fit(MultipleEpochsIterator(3, ArrayDataSetIterator(X, Y, 5)))
    assert (net.get_iteration_count(), net.get_epoch_count()) == (6, 1)


def test_async_iterator_shutdown_wakes_a_consumer_waiting_on_another_thread():
    import threading
    import time

    class Slow(ArrayDataSetIterator):
        def _next_batch(self, num=None):
            time.sleep(1.0)
            return super()._next_batch(num)

    batches = AsyncDataSetIterator(Slow(np.zeros((4, 2), "f"), np.zeros((4, 1), "f"), 1))
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(batches.has_next()), daemon=True)
    waiting.start()
    time.sleep(0.2)  # the consumer now waits for the first batch
    batches.shutdown()
    waiting.join(5)
    assert not waiting.is_alive() and answers == [False]
