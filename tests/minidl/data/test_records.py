import collections
import warnings

import numpy as np
import pytest
from PIL import Image

from minidl.data.records import (BalancedPathFilter, FileSplit, ImageRecordReader, InputSplit,
                                 ParentPathLabelGenerator, RecordReaderDataSetIterator)

CLASSES = {"cat": 3, "dog": 5, "emu": 4}


def _make_folder(root, corrupt=True):
    """root/<class>/<i>.png, a uniform image whose red value encodes the class and green the index."""
    for c, (name, count) in enumerate(sorted(CLASSES.items())):
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (6, 4), (50 * c + 10, 10 * i, 7)).save(root / name / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    if corrupt:
        (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    return root


def test_file_split_filters_extensions_and_shuffles_by_seed(tmp_path):
    root = _make_folder(tmp_path / "data")
    plain = FileSplit(root, ["png", ".JPG"])
    assert len(plain) == 13 and all(p.suffix in (".png", ".jpg") for p in plain.locations())
    assert plain.locations() == sorted(plain.locations())
    a, b = FileSplit(root, ["png"], seed=1), FileSplit(root, ["png"], seed=1)
    assert a.locations() == b.locations() != sorted(a.locations())
    assert sorted(a.locations()) == sorted(FileSplit(root, ["png"]).locations())


def test_balanced_filter_keeps_rarest_count_interleaved(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    paths = BalancedPathFilter(7, ["png"], ParentPathLabelGenerator()).filter(
        FileSplit(root, ["png"]).locations())
    labels = [p.parent.name for p in paths]
    assert collections.Counter(labels) == {"cat": 3, "dog": 3, "emu": 3}
    # interleaved: each run of 3 holds every label once
    assert all(sorted(labels[i:i + 3]) == ["cat", "dog", "emu"] for i in range(0, 9, 3))


def test_sample_cuts_by_weights(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    split = FileSplit(root, ["png"], seed=3)
    train, test = split.sample(BalancedPathFilter(5, ["png"]), 80, 20)
    assert (len(train), len(test)) == (7, 2)  # round(0.8 * 9) = 7
    assert not set(train.locations()) & set(test.locations())
    # 10 paths, weights 1:1:2 -> cuts at 2.5 (Java rounds half up: 3) and 5
    three = InputSplit([f"{i}.png" for i in range(10)]).sample(None, 1, 1, 2)
    assert [[p.stem for p in s.locations()] for s in three] == [
        ["0", "1", "2"], ["3", "4"], ["5", "6", "7", "8", "9"]]


def test_iterator_batches_with_one_hot_labels_matching_the_folders(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    reader.initialize(FileSplit(root, ["png"], seed=11))
    it = RecordReaderDataSetIterator(reader, 5, 1, 3)
    assert it.get_labels() == ["cat", "dog", "emu"] and it.total_outcomes() == 3
    batches = list(it)
    assert [b.features.shape for b in batches] == [(5, 3, 4, 6), (5, 3, 4, 6), (2, 3, 4, 6)]
    for batch in batches:
        assert batch.features.dtype == np.float32 and batch.labels.dtype == np.float32
        red = batch.features[:, 2, 0, 0]  # BGR: red is channel 2
        np.testing.assert_array_equal(np.argmax(batch.labels, axis=1), (red - 10) // 50)
        np.testing.assert_array_equal(batch.labels.sum(axis=1), 1)
    assert sum(len(b) for b in batches) == 12
    assert not it.has_next()
    it.reset()
    assert it.hasNext() and len(it.next()) == 5  # DL4J spelling works too


def test_corrupt_image_is_skipped_with_warning_and_reported(tmp_path):
    root = _make_folder(tmp_path / "data")
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    # the broken file last, so the final "batch" would hold only it: has_next must see that
    paths = FileSplit(root, ["png", "jpg"]).locations()
    broken = root / "dog" / "broken.jpg"
    reader.initialize(InputSplit([p for p in paths if p != broken] + [broken]))
    it = RecordReaderDataSetIterator(reader, 4)
    with pytest.warns(UserWarning, match="broken.jpg"):
        batches = list(it)
    assert [len(b) for b in batches] == [4, 4, 4]
    assert [path for path, _ in reader.skipped] == [broken] and it.skipped == reader.skipped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(len(b) for b in it) == 12  # a second epoch: same images, counted afresh
    assert len(reader.skipped) == 1


def test_pre_processor_is_applied_to_every_batch(tmp_path):
    class Halve:
        def pre_process(self, dataset):
            dataset.features = dataset.features / 2

    root = _make_folder(tmp_path / "data", corrupt=False)
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator()).initialize(FileSplit(root, ["png"]))
    it = RecordReaderDataSetIterator(reader, 12)
    plain = it.next().features
    it.reset()
    it.setPreProcessor(Halve())
    np.testing.assert_allclose(it.next().features, plain / 2)


def test_bad_label_index_and_class_count(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator()).initialize(FileSplit(root, ["png"]))
    with pytest.raises(ValueError, match="label_index must be 1"):
        RecordReaderDataSetIterator(reader, 2, 0, 3)
    with pytest.raises(ValueError, match="num_classes=2"):
        RecordReaderDataSetIterator(reader, 12, 1, 2).next()
