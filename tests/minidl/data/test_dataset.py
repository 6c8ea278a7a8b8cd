"""DataSet and MultiDataSet: row operations checked against plain indexing of the arrays."""

import numpy as np
import pytest

from minidl.data import DataSet, MultiDataSet


def make(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.eye(2, dtype=np.float32)[np.arange(n) % 2]
    return DataSet(x, y)


def test_getters_in_both_spellings():
    ds = make()
    assert ds.getFeatures() is ds.features and ds.get_labels() is ds.labels
    assert ds.numExamples() == 10 and ds.num_inputs() == 3 and ds.numOutcomes() == 2
    ds.setLabelNames(["cat", "dog"])
    assert ds.getLabelNames() == ["cat", "dog"] and ds.get_label_name(1) == "dog"


def test_row_count_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="same number of examples.*features: 3, labels: 2"):
        DataSet(np.zeros((3, 2)), np.zeros((2, 2)))


def test_split_by_count_keeps_order_and_leaves_the_dataset_alone():
    ds = make()
    split = ds.split_test_and_train(7)
    np.testing.assert_array_equal(split.get_train().features, ds.features[:7])
    np.testing.assert_array_equal(split.getTest().labels, ds.labels[7:])
    train, test = split
    assert train.num_examples() == 7 and test.num_examples() == 3
    np.testing.assert_array_equal(ds.features, make().features)


def test_split_by_fraction_and_seeded_shuffle():
    ds = make()
    train, test = ds.split_test_and_train(0.8, seed=5)
    assert (train.num_examples(), test.num_examples()) == (8, 2)
    order = np.random.default_rng(5).permutation(10)
    np.testing.assert_array_equal(train.features, ds.features[order[:8]])
    np.testing.assert_array_equal(test.features, ds.features[order[8:]])
    rows = {tuple(r) for r in np.concatenate([train.features, test.features])}
    assert rows == {tuple(r) for r in ds.features}
    again, _ = ds.split_test_and_train(0.8, seed=5)
    np.testing.assert_array_equal(again.features, train.features)


@pytest.mark.parametrize("bad", [0, 10, 11, 0.0, 1.0, 1.5])
def test_bad_split(bad):
    with pytest.raises(ValueError, match="split_test_and_train"):
        make().split_test_and_train(bad)


def test_shuffle_in_place_keeps_pairs_together_and_is_seeded():
    ds = make()
    ds.shuffle(seed=3)
    order = np.random.default_rng(3).permutation(10)
    np.testing.assert_array_equal(ds.features, make().features[order])
    np.testing.assert_array_equal(ds.labels, make().labels[order])
    # each label still belongs to its row: row r of make() has features 3r.. and label r % 2
    np.testing.assert_array_equal(ds.labels.argmax(1), (ds.features[:, 0] // 3) % 2)


def test_merge_batch_by_as_list_get_range():
    ds = make()
    batches = ds.batch_by(4)
    assert [b.num_examples() for b in batches] == [4, 4, 2]
    merged = DataSet.merge(batches)
    np.testing.assert_array_equal(merged.features, ds.features)
    np.testing.assert_array_equal(merged.labels, ds.labels)
    singles = ds.as_list()
    assert len(singles) == 10 and singles[3].features.shape == (1, 3)
    np.testing.assert_array_equal(singles[3].features[0], ds.features[3])
    np.testing.assert_array_equal(ds.get_range(2, 5).features, ds.features[2:5])
    np.testing.assert_array_equal(ds.get([1, 4]).labels, ds.labels[[1, 4]])
    with pytest.raises(IndexError, match=r"get_range\(5, 11\) is outside 0..10"):
        ds.get_range(5, 11)


def test_merge_errors():
    a = make(2)
    with pytest.raises(ValueError, match="different shapes"):
        DataSet.merge([a, DataSet(np.zeros((2, 4)), np.zeros((2, 2)))])
    with pytest.raises(ValueError, match="some datasets have labels_mask"):
        DataSet.merge([a, DataSet(a.features, a.labels, labels_mask=np.ones((2, 1)))])


def test_masks_travel_with_their_rows():
    ds = make(4)
    ds.features_mask = np.arange(4.0).reshape(4, 1)
    part = ds.get_range(1, 3)
    np.testing.assert_array_equal(part.features_mask, [[1.0], [2.0]])


def test_copy_is_deep_and_keeps_label_names():
    ds = make()
    ds.set_label_names(["a", "b"])
    dup = ds.copy()
    dup.features[0, 0] = -1
    assert ds.features[0, 0] == 0 and dup.get_label_names() == ["a", "b"]


def test_multidataset():
    x1, x2 = np.arange(8.0).reshape(4, 2), np.arange(12.0).reshape(4, 3)
    y = np.eye(2)[[0, 1, 1, 0]]
    mds = MultiDataSet([x1, x2], [y])
    assert mds.num_features_arrays() == 2 and mds.numLabelsArrays() == 1
    assert mds.num_examples() == 4 and mds.get_features(1) is x2 and mds.get_labels(0) is y
    assert mds.get_features() == [x1, x2]
    parts = mds.batch_by(3)
    np.testing.assert_array_equal(parts[1].get_features(1), x2[3:])
    back = MultiDataSet.merge(parts)
    np.testing.assert_array_equal(back.get_features(0), x1)
    mds.shuffle(seed=0)
    order = np.random.default_rng(0).permutation(4)
    np.testing.assert_array_equal(mds.get_features(1), x2[order])
    np.testing.assert_array_equal(mds.get_labels(0), y[order])
    with pytest.raises(ValueError, match=r"features\[0\]: 4, features\[1\]: 3"):
        MultiDataSet([x1, x2[:3]], [y])


def test_multidataset_from_dataset():
    ds = make(3)
    mds = MultiDataSet.from_dataset(ds)
    assert mds.get_features(0) is ds.features and mds.get_labels(0) is ds.labels
