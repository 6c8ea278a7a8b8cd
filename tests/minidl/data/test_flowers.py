import hashlib
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from minidl.data.flowers import FlowerDataSetIterator

COUNTS = {"daisy": 4, "roses": 6, "tulips": 5}


def _flowers_tgz():
    """A tiny flower_photos.tgz: class folders of 8x6 JPEGs plus LICENSE.txt, like the real one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for c, (name, count) in enumerate(sorted(COUNTS.items())):
            for i in range(count):
                image = io.BytesIO()
                Image.new("RGB", (8, 6), (80 * c, 100, 200)).save(image, "JPEG", quality=95)
                add(f"flower_photos/{name}/{i}.jpg", image.getvalue())
        add("flower_photos/LICENSE.txt", b"CC-BY")
    return buffer.getvalue()


def test_setup_downloads_extracts_splits_and_iterates(local_http, minidl_home):
    data = _flowers_tgz()
    url = local_http.add("/flower_photos.tgz", data)
    FlowerDataSetIterator.setup(3, 75, url=url, checksum=hashlib.sha256(data).hexdigest(),
                                pre_processor=None, progress=False)
    assert (minidl_home / "datasets/flower_photos/roses/0.jpg").is_file()
    train, test = FlowerDataSetIterator.train_iterator(), FlowerDataSetIterator.testIterator()
    assert train.get_labels() == ["daisy", "roses", "tulips"]
    # balanced: 4 per class (the rarest), 12 in all, 75 % = 9 train and 3 test
    train_batches, test_batches = list(train), list(test)
    assert [len(b) for b in train_batches] == [3, 3, 3] and [len(b) for b in test_batches] == [3]
    first = train_batches[0]
    assert first.features.shape == (3, 3, 224, 224) and first.labels.shape == (3, 3)
    # the red value (BGR channel 2) encodes the class: 0, 80, 160
    labels = np.concatenate([b.labels for b in train_batches + test_batches]).argmax(axis=1)
    reds = np.concatenate([b.features[:, 2, 100, 100] for b in train_batches + test_batches])
    np.testing.assert_allclose(reds, labels * 80, atol=4)
    assert np.bincount(labels).tolist() == [4, 4, 4]

    # a second setup uses the extracted folder: no new download
    requests_before = len(local_http.log)
    FlowerDataSetIterator.setup(3, 75, url=url, pre_processor=None, progress=False)
    assert len(local_http.log) == requests_before


def test_wrong_archive_checksum_is_refused(local_http, minidl_home):
    url = local_http.add("/flower_photos.tgz", _flowers_tgz())
    with pytest.raises(OSError, match="checksum mismatch"):
        FlowerDataSetIterator.setup(3, 80, url=url, checksum="0" * 64, progress=False)
    assert not (minidl_home / "datasets/flower_photos").exists()


def test_custom_data_dir_and_pre_processor(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (5, 5), (0, 0, 255)).save(tmp_path / name / f"{i}.png")

    class Minus100:
        def pre_process(self, dataset):
            dataset.features -= 100

    FlowerDataSetIterator.setup(4, 50, data_dir=tmp_path, pre_processor=Minus100())
    batch = FlowerDataSetIterator.train_iterator().next()
    assert len(batch) == 2 and batch.features.shape[1:] == (3, 224, 224)
    np.testing.assert_allclose(batch.features[:, 0], 155)  # blue is BGR channel 0


def test_default_pre_processor_is_vgg16_mean_subtraction(tmp_path):
    pytest.importorskip("minidl.data.normalizers")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (5, 5), (200, 150, 120)).save(tmp_path / name / "x.png")
    FlowerDataSetIterator.setup(2, 50, data_dir=tmp_path)
    batch = FlowerDataSetIterator.train_iterator().next()
    np.testing.assert_allclose(batch.features[0, :, 0, 0],
                               [120 - 103.939, 150 - 116.779, 200 - 123.68], rtol=1e-5)


def test_bad_train_percent():
    with pytest.raises(ValueError, match="train_percent"):
        FlowerDataSetIterator.setup(2, 100, data_dir=".")
