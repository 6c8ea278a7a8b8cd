"""DataSet and MultiDataSet: row operations checked against plain indexing of the arrays.

The row operations (split, shuffle, merge, batch, get, copy) run on both devices (the
``device`` fixture): ``make`` puts the arrays on the current device, ``truth`` keeps the same
data on the host, and results come back with ``host`` before they are compared.
"""

import io
import random

import numpy as np
import pytest

from devices import host
from minidl.backend import device_of, to_device
from minidl.data import DataSet, MultiDataSet
from minidl.data.dataset import as_list, numpy_rng


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


def test_sample_without_replacement_is_seeded_and_keeps_rows_together(device):
    ds, t = make(), truth()
    ds.set_label_names(["a", "b"])
    ds.features_mask = to_device(np.arange(10.0).reshape(10, 1))
    picked = ds.sample(6, rng=4)
    assert on(device, picked) and picked.num_examples() == 6
    rows = (host(picked.features)[:, 0] // 3).astype(int)
    assert len(set(rows)) == 6                                  # no example twice
    np.testing.assert_array_equal(rows, np.random.default_rng(4).choice(10, 6, replace=False))
    np.testing.assert_array_equal(host(picked.labels), t.labels[rows])
    np.testing.assert_array_equal(host(picked.features_mask)[:, 0], rows)
    assert picked.get_label_names() == ["a", "b"]
    assert ds.num_examples() == 10                               # the DataSet is left alone
    again = ds.sample(6, np.random.default_rng(4))               # a Generator works as well
    np.testing.assert_array_equal(host(again.features), host(picked.features))
    assert sorted((host(ds.sample(10).features)[:, 0] // 3).astype(int)) == list(range(10))


def test_sample_with_replacement_in_both_spellings():
    ds = make(3)
    many = ds.sample(50, rng=0, with_replacement=True)
    rows = (many.features[:, 0] // 3).astype(int)
    assert many.num_examples() == 50 and set(rows) == {0, 1, 2}  # repeats are allowed
    assert ds.sample(5, True).num_examples() == 5                # DL4J's sample(n, true)
    with pytest.raises(ValueError, match="cannot draw 4 of 3 examples without replacement"):
        ds.sample(4)


def test_save_and_load_round_trip(tmp_path, device):
    ds, t = make(4), truth(4)
    ds.labels_mask = to_device(np.array([[1.0], [0.0], [1.0], [1.0]]))
    ds.set_label_names(["cat", "dog"])
    path = tmp_path / "featurized" / "batch_0.npz"      # folders are made as needed
    ds.save(path)
    back = DataSet().load(path)
    assert isinstance(back.features, np.ndarray) and back.features.dtype == np.float32
    np.testing.assert_array_equal(back.features, t.features)
    np.testing.assert_array_equal(back.labels, t.labels)
    np.testing.assert_array_equal(back.labels_mask, [[1.0], [0.0], [1.0], [1.0]])
    assert back.features_mask is None and back.get_label_names() == ["cat", "dog"]
    with np.load(path, allow_pickle=False) as npz:           # plain arrays, documented names
        assert sorted(npz.files) == ["features", "label_names", "labels", "labels_mask"]
    assert [p.name for p in path.parent.iterdir()] == ["batch_0.npz"]  # no temporary left


def test_load_fills_the_dataset_it_is_called_on_as_in_dl4j(tmp_path):
    saved = make(3)
    saved.set_label_names(["cat", "dog"])
    saved.save(tmp_path / "d.npz")
    ds = DataSet()                                  # DL4J: DataSet ds = new DataSet(); ds.load(f);
    returned = ds.load(tmp_path / "d.npz")
    assert returned is ds and ds.num_examples() == 3 and ds.get_label_names() == ["cat", "dog"]
    np.testing.assert_array_equal(ds.features, truth(3).features)
    full = DataSet(np.zeros((5, 3)), np.zeros((5, 2)), features_mask=np.ones((5, 1)))
    full.set_label_names(["x", "y"])
    make(2).save(tmp_path / "plain.npz")
    full.load(tmp_path / "plain.npz")               # every field replaced, also the absent ones
    assert full.num_examples() == 2 and full.features_mask is None
    assert full.get_label_names() is None


def test_multidataset_save_and_load_round_trip(tmp_path, device):
    h1, h2 = np.arange(8.0).reshape(4, 2), np.arange(12.0).reshape(4, 3)
    hy = np.eye(2)[[0, 1, 1, 0]]
    mask = np.array([[1.0], [1.0], [0.0], [1.0]])
    mds = MultiDataSet([to_device(h1), to_device(h2)], [to_device(hy)],
                       features_masks=[None, to_device(mask)])
    mds.save(tmp_path / "m.npz")
    back = MultiDataSet().load(tmp_path / "m.npz")
    assert isinstance(back, MultiDataSet) and back.num_features_arrays() == 2
    for got, want in zip(back.features + back.labels, [h1, h2, hy]):
        assert isinstance(got, np.ndarray)
        np.testing.assert_array_equal(got, want)
    assert back.features_masks[0] is None and back.labels_masks is None  # a None in a list stays
    np.testing.assert_array_equal(back.features_masks[1], mask)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:  # the documented entries
        assert sorted(npz.files) == ["features[0]", "features[1]", "features_masks[1]", "labels[0]",
                                     "num_features", "num_features_masks", "num_labels"]


def test_a_dataset_file_is_not_a_multidataset_file(tmp_path):
    make(2).save(tmp_path / "d.npz")
    MultiDataSet([np.zeros((2, 1))], [np.zeros((2, 1))]).save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"not a saved MultiDataSet: expected arrays among "
                                         r"\['features\[i\]', .*got \['features', 'labels'\]"):
        MultiDataSet().load(tmp_path / "d.npz")
    with pytest.raises(ValueError, match=r"not a saved DataSet: .*got \['features\[0\]'"):
        DataSet().load(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="MultiDataSet file .*none.npz' does not exist"):
        MultiDataSet().load(tmp_path / "none.npz")


def test_save_and_load_with_a_file_object():
    buffer = io.BytesIO()
    make(3).save(buffer)
    buffer.seek(0)
    back = DataSet().load(buffer)
    np.testing.assert_array_equal(back.features, truth(3).features)
    assert back.get_label_names() is None


def test_a_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    make(2).save(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        make(5).save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def _write(path, data=None, **arrays):
    if data is not None:
        path.write_bytes(data)
    else:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("content, message", [
    (dict(data=b"not a zip at all"), "is not a readable .npz"),
    (dict(features=np.array([{"a": 1}], dtype=object)), "is not a readable .npz.*pickle"),
    (dict(W=np.zeros((2, 2))), r"not a saved DataSet: expected arrays among .*got \['W'\]"),
    (dict(features=np.zeros((3, 2)), labels=np.zeros((2, 2))),
     "not a valid DataSet.*features: 3, labels: 2"),
])
def test_load_refuses_bad_files(tmp_path, content, message):
    path = _write(tmp_path / "bad.npz", **content)
    with pytest.raises(ValueError, match=message):
        DataSet().load(path)


def test_load_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="DataSet file .*missing.npz' does not exist"):
        DataSet().load(tmp_path / "missing.npz")


@pytest.mark.parametrize("value, expected", [
    (None, []), ([1, 2], [1, 2]), ((1, 2), [1, 2]), ("x", ["x"]), (5, [5])])
def test_as_list_wraps_one_thing_and_copies_several(value, expected):
    assert as_list(value) == expected
    several = [np.zeros(2)]
    assert as_list(several) is not several                       # a new list
    array = np.zeros((2, 2))
    assert as_list(array)[0] is array                            # an array is one item


@pytest.mark.parametrize("operation", [
    lambda ds, rng: ds.shuffle(rng) or ds,
    lambda ds, rng: ds.sample(6, rng),
    lambda ds, rng: ds.split_test_and_train(7, rng).get_train(),
])
def test_randomness_from_a_seed_a_random_random_or_a_generator(operation, device):
    # DL4J passes a java.util.Random; a random.Random seeds a Generator with 128 of its bits
    def rows(ds):
        return (host(ds.features)[:, 0] // 3).astype(int).tolist()
    by_random = rows(operation(make(), random.Random(7)))
    assert by_random == rows(operation(make(), random.Random(7)))       # seeded: repeatable
    bits = random.Random(7).getrandbits(128)
    assert by_random == rows(operation(make(), np.random.default_rng(bits)))
    assert by_random == rows(operation(make(), bits))                   # an int seed, the same
    shared = random.Random(7)
    first, second = rows(operation(make(), shared)), rows(operation(make(), shared))
    assert first == by_random and second != first                      # using it advances it


def test_numpy_rng_rules():
    generator = np.random.default_rng(0)
    assert numpy_rng(generator) is generator
    assert numpy_rng(-1).integers(1 << 30) == np.random.default_rng(2**64 - 1).integers(1 << 30)
    assert isinstance(numpy_rng(None), np.random.Generator)
    for bad in (True, 1.5, "7"):
        with pytest.raises(TypeError, match="an int seed, a random.Random, a NumPy Generator"):
            numpy_rng(bad)


def test_an_empty_dataset_is_not_saved(tmp_path):
    with pytest.raises(ValueError, match="nothing to save"):
        DataSet().save(tmp_path / "empty.bin")
    assert not (tmp_path / "empty.bin").exists()
