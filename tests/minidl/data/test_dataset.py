"""DataSet and MultiDataSet: row operations checked against plain indexing of the arrays.

The row operations (split, shuffle, merge, batch, get, copy) run on both devices (the
``device`` fixture): ``make`` puts the arrays on the current device, ``truth`` keeps the same
data on the host, and results come back with ``host`` before they are compared.
"""

import numpy as np
import pytest

from devices import host
from minidl.backend import device_of, to_device
from minidl.data import DataSet, MultiDataSet


def truth(n=10):
    """The data of ``make(n)`` as NumPy arrays."""
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.eye(2, dtype=np.float32)[np.arange(n) % 2]
    return DataSet(x, y)


def make(n=10):
    """``truth(n)`` on the current device (the CPU unless a test takes ``device``)."""
    t = truth(n)
    return DataSet(to_device(t.features), to_device(t.labels))


def on(device, *datasets):
    """True when every array of ``datasets`` lives on ``device``."""
    return all(device_of(a) == device for d in datasets for _, a in d._arrays() if a is not None)


def test_getters_in_both_spellings():
    ds = make()
    assert ds.getFeatures() is ds.features and ds.get_labels() is ds.labels
    assert ds.numExamples() == 10 and ds.num_inputs() == 3 and ds.numOutcomes() == 2
    ds.setLabelNames(["cat", "dog"])
    assert ds.getLabelNames() == ["cat", "dog"] and ds.get_label_name(1) == "dog"


def test_row_count_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same number of examples.*features: 3, labels: 2"):
        DataSet(np.zeros((3, 2)), np.zeros((2, 2)))


def test_split_by_count_keeps_order_and_leaves_the_dataset_alone(device):
    ds, t = make(), truth()
    split = ds.split_test_and_train(7)
    np.testing.assert_array_equal(host(split.get_train().features), t.features[:7])
    np.testing.assert_array_equal(host(split.getTest().labels), t.labels[7:])
    train, test = split
    assert train.num_examples() == 7 and test.num_examples() == 3
    assert on(device, train, test)
    np.testing.assert_array_equal(host(ds.features), t.features)


def test_split_by_fraction_and_seeded_shuffle(device):
    ds, t = make(), truth()
    train, test = ds.split_test_and_train(0.8, seed=5)
    assert (train.num_examples(), test.num_examples()) == (8, 2)
    assert on(device, train, test)
    order = np.random.default_rng(5).permutation(10)
    np.testing.assert_array_equal(host(train.features), t.features[order[:8]])
    np.testing.assert_array_equal(host(test.features), t.features[order[8:]])
    rows = {tuple(r) for r in np.concatenate([host(train.features), host(test.features)])}
    assert rows == {tuple(r) for r in t.features}
    again, _ = ds.split_test_and_train(0.8, seed=5)
    np.testing.assert_array_equal(host(again.features), host(train.features))


@pytest.mark.parametrize("bad", [0, 10, 11, 0.0, 1.0, 1.5])
def test_bad_split(bad):
    with pytest.raises(ValueError, match="split_test_and_train"):
        make().split_test_and_train(bad)


def test_shuffle_in_place_keeps_pairs_together_and_is_seeded(device):
    ds = make()
    ds.shuffle(seed=3)
    assert on(device, ds)
    order = np.random.default_rng(3).permutation(10)
    features, labels = host(ds.features), host(ds.labels)
    np.testing.assert_array_equal(features, truth().features[order])
    np.testing.assert_array_equal(labels, truth().labels[order])
    # each label still belongs to its row: row r of make() has features 3r.. and label r % 2
    np.testing.assert_array_equal(labels.argmax(1), (features[:, 0] // 3) % 2)


def test_merge_batch_by_as_list_get_range(device):
    ds, t = make(), truth()
    batches = ds.batch_by(4)
    assert [b.num_examples() for b in batches] == [4, 4, 2]
    assert on(device, *batches)
    merged = DataSet.merge(batches)
    assert on(device, merged)
    np.testing.assert_array_equal(host(merged.features), t.features)
    np.testing.assert_array_equal(host(merged.labels), t.labels)
    singles = ds.as_list()
    assert len(singles) == 10 and singles[3].features.shape == (1, 3)
    assert on(device, *singles)
    np.testing.assert_array_equal(host(singles[3].features)[0], t.features[3])
    part, picked = ds.get_range(2, 5), ds.get([1, 4])
    assert on(device, part, picked)
    np.testing.assert_array_equal(host(part.features), t.features[2:5])
    np.testing.assert_array_equal(host(picked.labels), t.labels[[1, 4]])
    by_device_index = ds.get(to_device(np.array([1, 4])))  # indices may live on the device too
    assert on(device, by_device_index)
    np.testing.assert_array_equal(host(by_device_index.labels), t.labels[[1, 4]])
    with pytest.raises(IndexError, match=r"get_range\(5, 11\) is outside 0..10"):
        ds.get_range(5, 11)


def test_merge_errors(device):
    a = make(2)
    with pytest.raises(ValueError, match="different shapes"):
        DataSet.merge([a, DataSet(to_device(np.zeros((2, 4))), to_device(np.zeros((2, 2))))])
    with pytest.raises(ValueError, match="some datasets have labels_mask"):
        DataSet.merge([a, DataSet(a.features, a.labels,
                                  labels_mask=to_device(np.ones((2, 1))))])


def test_masks_travel_with_their_rows(device):
    ds = make(4)
    ds.features_mask = to_device(np.arange(4.0).reshape(4, 1))
    part = ds.get_range(1, 3)
    assert on(device, part)
    np.testing.assert_array_equal(host(part.features_mask), [[1.0], [2.0]])


def test_copy_is_deep_and_keeps_label_names(device):
    ds = make()
    ds.set_label_names(["a", "b"])
    dup = ds.copy()
    assert on(device, dup)
    dup.features[0, 0] = -1
    assert host(dup.features)[0, 0] == -1
    assert host(ds.features)[0, 0] == 0 and dup.get_label_names() == ["a", "b"]


def test_multidataset(device):
    h1, h2 = np.arange(8.0).reshape(4, 2), np.arange(12.0).reshape(4, 3)
    hy = np.eye(2)[[0, 1, 1, 0]]
    x1, x2, y = to_device(h1), to_device(h2), to_device(hy)
    mds = MultiDataSet([x1, x2], [y])
    assert mds.num_features_arrays() == 2 and mds.numLabelsArrays() == 1
    assert mds.num_examples() == 4 and mds.get_features(1) is x2 and mds.get_labels(0) is y
    assert mds.get_features() == [x1, x2]
    parts = mds.batch_by(3)
    assert on(device, *parts)
    np.testing.assert_array_equal(host(parts[1].get_features(1)), h2[3:])
    back = MultiDataSet.merge(parts)
    assert on(device, back)
    np.testing.assert_array_equal(host(back.get_features(0)), h1)
    mds.shuffle(seed=0)
    assert on(device, mds)
    order = np.random.default_rng(0).permutation(4)
    np.testing.assert_array_equal(host(mds.get_features(1)), h2[order])
    np.testing.assert_array_equal(host(mds.get_labels(0)), hy[order])
    with pytest.raises(ValueError, match=r"features\[0\]: 4, features\[1\]: 3"):
        MultiDataSet([x1, x2[:3]], [y])


def test_multidataset_from_dataset():
    ds = make(3)
    mds = MultiDataSet.from_dataset(ds)
    assert mds.get_features(0) is ds.features and mds.get_labels(0) is ds.labels
