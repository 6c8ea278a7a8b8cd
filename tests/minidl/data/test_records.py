import collections
import random
import warnings

import numpy as np
import pytest
from PIL import Image

from minidl.data.image import BaseImageLoader, NativeImageLoader
from minidl.data.records import (ALLOWED_FORMATS, BalancedPathFilter, FileSplit, ImageRecordReader,
                                 InputSplit, ParentPathLabelGenerator, RandomPathFilter,
                                 RecordReaderDataSetIterator)

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
    plain = FileSplit(root, ["png", ".jpg"])
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


def test_a_batch_is_its_files_so_a_bad_one_only_shortens_its_own(tmp_path):
    root = _make_folder(tmp_path / "data")
    paths = [p for p in FileSplit(root, ["png", "jpg"]).locations() if p.suffix == ".png"]
    broken = root / "dog" / "broken.jpg"
    order = paths[:1] + [broken] + paths[1:]  # files 0..12, the second one undecodable
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    reader.initialize(InputSplit(order))
    with pytest.warns(UserWarning, match="broken.jpg"):
        batches = list(RecordReaderDataSetIterator(reader, 4))
    assert [len(b) for b in batches] == [3, 4, 4, 1]  # files 0-3 (one bad), 4-7, 8-11, 12
    # batch 2 is files 8..11 whatever came before: the green value encodes each file's index
    loader = NativeImageLoader(4, 6, 3)
    expected = np.concatenate([loader.as_matrix(p) for p in order[8:12]])
    np.testing.assert_array_equal(batches[2].features, expected)


def test_a_batch_of_only_bad_files_is_passed_over(tmp_path):
    root = _make_folder(tmp_path / "data")
    broken = root / "dog" / "broken.jpg"
    good = [p for p in FileSplit(root, ["png"]).locations()][:3]
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    reader.initialize(InputSplit([broken, broken] + good))
    with pytest.warns(UserWarning, match="broken.jpg"):
        batches = list(RecordReaderDataSetIterator(reader, 2))
    assert [len(b) for b in batches] == [2, 1]  # files 2-3, then 4; files 0-1 gave nothing


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


def _names(paths):
    return sorted(path.name for path in paths)


def test_file_split_takes_dl4js_constructors(tmp_path):
    root = _make_folder(tmp_path / "data")
    Image.new("RGB", (6, 4)).save(root / "top.png")
    everything = FileSplit(root)
    assert len(everything) == 15  # 13 PNGs, notes.txt, broken.jpg
    shuffled = FileSplit(root, random.Random(4))  # (File, Random)
    assert shuffled.locations() != everything.locations()
    assert sorted(shuffled.locations()) == everything.locations()
    assert FileSplit(root, 4).locations() == shuffled.locations()  # a seed for the Random
    assert _names(FileSplit(root, "jpg").locations()) == ["broken.jpg"]  # one string: one extension
    assert len(FileSplit(root, ["png"], random.Random(1))) == 13  # (File, String[], Random)
    assert _names(FileSplit(root, ["png"], False).locations()) == ["top.png"]  # not recursive
    assert len(FileSplit(root, ["png"], True)) == 13
    by_keyword = FileSplit(root, allowed_extensions="png", recursive=False)
    assert _names(by_keyword.locations()) == ["top.png"]
    one_file = root / "cat" / "notes.txt"
    assert FileSplit(one_file).locations() == [one_file]  # DL4J lists the one file
    assert FileSplit(root).get_root_dir() == root


def test_file_split_refuses_what_no_constructor_takes(tmp_path):
    root = _make_folder(tmp_path / "data")
    with pytest.raises(TypeError, match=r"FileSplit: no constructor takes \(root, list, float\); "
                                        r"accepted: .*\(root, allowed_extensions, recursive\)"):
        FileSplit(root, ["png"], 1.5)
    with pytest.raises(TypeError, match=r"no constructor takes \(root, list, bool, int\)"):
        FileSplit(root, ["png"], False, 3)
    with pytest.raises(TypeError, match="unknown keyword 'formats'"):
        FileSplit(root, formats=["png"])
    with pytest.raises(TypeError, match="both by position and by keyword"):
        FileSplit(root, ["png"], allowed_extensions=["jpg"])
    with pytest.raises(TypeError, match="recursive must be a bool"):
        FileSplit(root, recursive="no")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        FileSplit(tmp_path / "missing")


def test_random_path_filter_takes_dl4js_constructors(tmp_path):
    paths = FileSplit(_make_folder(tmp_path / "data")).locations()
    varargs = RandomPathFilter(random.Random(2), "png", "jpg").filter(paths)  # String...
    assert varargs == RandomPathFilter(random.Random(2), ["png", "jpg"]).filter(paths)
    assert len(varargs) == 13 and "notes.txt" not in _names(varargs)
    assert _names(RandomPathFilter(random.Random(2), "jpg").filter(paths)) == ["broken.jpg"]
    capped = RandomPathFilter(random.Random(2), ["png"], 5).filter(paths)  # (Random, String[], int)
    assert len(capped) == 5 and all(path.suffix == ".png" for path in capped)
    assert sorted(RandomPathFilter(random.Random(2)).filter(paths)) == sorted(paths)
    with pytest.raises(TypeError, match=r"RandomPathFilter: no constructor takes \(Random, int\)"):
        RandomPathFilter(random.Random(2), 3)
    with pytest.raises(TypeError, match=r"RandomPathFilter\(rng, extensions, max_paths\)"):
        RandomPathFilter(random.Random(2), ["png"], 2.5)


def test_balanced_path_filter_takes_dl4js_constructors():
    labeller = ParentPathLabelGenerator()

    def bound(*args):
        f = BalancedPathFilter(random.Random(0), *args)
        return (f.extensions, f.label_generator, f.max_paths, f.max_labels,
                f.min_paths_per_label, f.max_paths_per_label, f.labels)

    png = ("png",)
    assert bound(["png"], labeller) == (png, labeller, 0, 0, 0, 0, None)
    assert bound(labeller, 2) == (None, labeller, 0, 0, 0, 2, None)
    assert bound(["png"], labeller, 2) == (png, labeller, 0, 0, 0, 2, None)
    assert bound(labeller, 9, 2, 1) == (None, labeller, 9, 2, 0, 1, None)
    assert bound(["png"], labeller, 2, 1) == (png, labeller, 0, 2, 0, 1, None)
    assert bound(["png"], labeller, 9, 2, 1, 3) == (png, labeller, 9, 2, 1, 3, None)
    assert bound(["png"], labeller, 0, 0, 0, 0, "cat", "emu")[-1] == ("cat", "emu")
    assert bound(["png"], labeller, 0, 0, 0, 0, ["cat"])[-1] == ("cat",)
    with pytest.raises(TypeError, match=r"BalancedPathFilter: no constructor takes "
                                        r"\(Random, ParentPathLabelGenerator, str\)"):
        BalancedPathFilter(random.Random(0), labeller, "3")


def test_balanced_path_filter_caps_per_label_and_keeps_named_labels(tmp_path):
    paths = FileSplit(_make_folder(tmp_path / "data", corrupt=False), ["png"]).locations()
    labels = lambda kept: collections.Counter(path.parent.name for path in kept)
    capped = BalancedPathFilter(random.Random(1), ParentPathLabelGenerator(), 2).filter(paths)
    assert labels(capped) == {"cat": 2, "dog": 2, "emu": 2}
    chosen = BalancedPathFilter(random.Random(1), ["png"], ParentPathLabelGenerator(),
                                0, 0, 0, 0, "dog", "emu").filter(paths)
    assert labels(chosen) == {"dog": 4, "emu": 4}


def test_extensions_match_case_sensitively_as_in_datavec(tmp_path):
    for name in ("a.png", "b.PNG", "c.Png", "d.jpeg", "e.gif"):
        Image.new("RGB", (2, 2)).save(tmp_path / name, format="PNG")
    assert _names(FileSplit(tmp_path, ["png"]).locations()) == ["a.png"]
    assert ALLOWED_FORMATS == BaseImageLoader.ALLOWED_FORMATS
    assert _names(FileSplit(tmp_path, ALLOWED_FORMATS).locations()) == ["a.png", "b.PNG", "d.jpeg"]
    assert _names(FileSplit(tmp_path, NativeImageLoader.ALLOWED_FORMATS).locations()) == [
        "a.png", "b.PNG", "d.jpeg", "e.gif"]
    everything = FileSplit(tmp_path).locations()
    assert _names(RandomPathFilter(random.Random(1), "PNG").filter(everything)) == ["b.PNG"]


def test_reader_next_gives_dl4j_records_and_a_missing_file_raises(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    split = FileSplit(root, ["png"])  # sorted: cat/0.png first
    image, label = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator()).initialize(split).next()
    assert image.shape == (1, 3, 4, 6) and label == 0
    record = ImageRecordReader(4, 6, 3).initialize(split).next()
    assert len(record) == 1 and record[0].shape == (1, 3, 4, 6)
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    reader.initialize(InputSplit([root / "cat" / "0.png", root / "cat" / "gone.png"]))
    reader.next()
    with pytest.raises(FileNotFoundError, match="gone.png"):
        reader.next()
    assert reader.skipped == []


def test_iterator_labels_follow_the_reader_made_after_it(tmp_path):
    root = _make_folder(tmp_path / "data", corrupt=False)
    reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
    it = RecordReaderDataSetIterator(reader, 5)
    assert it.get_labels() is None
    reader.initialize(FileSplit(root, ["png"]))
    assert it.getLabels() == ["cat", "dog", "emu"] and it.total_outcomes() == 3
    batch = it.next()
    assert batch.labels.shape == (5, 3) and batch.get_label_names() == ["cat", "dog", "emu"]
    inferred = RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["png"])), 12, -1, 3)
    assert inferred.next().labels.shape == (12, 3)  # DL4J: label index -1 with classes: the last


def test_unlabelled_folder_gives_features_only_batches(tmp_path):
    for i in range(5):
        Image.new("RGB", (10, 10), (i, 0, 0)).save(tmp_path / f"{i}.png")
    reader = ImageRecordReader(8, 8, 3).initialize(FileSplit(tmp_path))
    it = RecordReaderDataSetIterator(reader, 4)
    batches = list(it)
    assert [b.features.shape for b in batches] == [(4, 3, 8, 8), (1, 3, 8, 8)]
    assert all(b.labels is None for b in batches)
    assert it.get_labels() is None and it.total_outcomes() == 0
    for label_index, num_classes in ((1, None), (1, 5), (-1, 5)):
        with pytest.raises(ValueError, match="reader has no label generator.*PathLabelGenerator"):
            RecordReaderDataSetIterator(reader, 4, label_index, num_classes)


# -- prefetching and decode settings, for featurizing photo folders ------------------------------
def test_prefetched_image_batches_are_the_same_batches_in_the_same_order(tmp_path):
    from minidl.data import AsyncDataSetIterator

    root = _make_folder(tmp_path / "data")  # with a broken JPEG, skipped on the thread

    def iterator():
        reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator())
        return RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["png", "jpg"],
                                                                       seed=3)), 5)
    with pytest.warns(UserWarning, match="broken.jpg"):
        plain = list(iterator())
    assert iterator().async_supported()  # DL4J's hint that prefetching pays
    prefetched = AsyncDataSetIterator(iterator(), queue_size=2)
    assert len(prefetched) == 3  # ceil(13 files / 5): the wrapped iterator's count
    for _ in range(2):  # and again after the reset that a second pass makes
        with pytest.warns(UserWarning, match="broken.jpg"):
            got = list(prefetched)
        assert len(got) == len(plain)
        for mine, theirs in zip(got, plain):
            np.testing.assert_array_equal(mine.features, theirs.features)
            np.testing.assert_array_equal(mine.labels, theirs.labels)
    assert prefetched.get_labels() == ["cat", "dog", "emu"]


def test_the_decode_mode_and_pre_processor_are_seen_through_the_wrappers(tmp_path):
    from minidl.data import (ArrayDataSetIterator, AsyncDataSetIterator, MultipleEpochsIterator,
                             NormalizerStandardize)

    root = _make_folder(tmp_path / "data", corrupt=False)
    for draft, mode in ((True, "draft"), (False, "full")):
        reader = ImageRecordReader(4, 6, 3, ParentPathLabelGenerator(), draft=draft)
        it = RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["png"])), 4)
        assert reader.decode_mode == it.decode_mode == mode
        assert AsyncDataSetIterator(MultipleEpochsIterator(2, it)).decode_mode == mode
    assert ArrayDataSetIterator(np.zeros((2, 3)), np.zeros((2, 1)), 1).decode_mode is None
    normalizer = NormalizerStandardize()
    it.set_pre_processor(normalizer)
    wrapped = AsyncDataSetIterator(it)
    assert wrapped.get_pre_processor() is normalizer  # the one the batches go through
    own = NormalizerStandardize()
    wrapped.set_pre_processor(own)
    assert wrapped.get_pre_processor() is own
