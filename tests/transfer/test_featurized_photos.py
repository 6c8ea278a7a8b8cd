"""featurize_to_disk over a folder of JPEG photos: the manifest records how they were decoded
(reduced "draft" decoding gives slightly different pixels, so other features), and prefetching
the batches on a thread writes the same shards."""

import numpy as np
import pytest
from PIL import Image

from minidl.data import AsyncDataSetIterator
from minidl.data.records import (FileSplit, ImageRecordReader, ParentPathLabelGenerator,
                                 RecordReaderDataSetIterator)
from transfer import FeaturizedDataSetIterator, TransferLearningHelper, featurize_to_disk
from transfer.featurized import FeaturesMismatchError
from test_helper import _edited_vgg
from vgg_like import SIDE


def _photo_folder(root, per_class=3, size=(200, 150)):
    """root/<class>/<i>.jpg: noisy photo-like JPEGs over 4x the network's 32x32 input."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.normal(128, 40, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg", quality=90)
    return root


def _iterator(root, draft):
    reader = ImageRecordReader(SIDE, SIDE, 3, ParentPathLabelGenerator(), draft=draft)
    return RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["jpg"])), 4)


def _features(folder):
    return np.concatenate([batch.features for batch in FeaturizedDataSetIterator(folder)])


def test_the_manifest_records_the_decode_mode_and_refuses_another(tmp_path):
    photos = _photo_folder(tmp_path / "photos")
    helper = TransferLearningHelper(_edited_vgg())
    drafted = featurize_to_disk(helper, _iterator(photos, True), tmp_path / "f", progress=False)
    assert drafted["decode_mode"] == "draft" and drafted["num_examples"] == 6
    with pytest.raises(FeaturesMismatchError, match="decoded another way \\('draft'"):
        featurize_to_disk(helper, _iterator(photos, False), tmp_path / "f", progress=False)
    again = featurize_to_disk(helper, _iterator(photos, True), tmp_path / "f", progress=False)
    assert again["fingerprint"] == drafted["fingerprint"]  # the same: reused
    full = featurize_to_disk(helper, _iterator(photos, False), tmp_path / "full", progress=False)
    assert full["decode_mode"] == "full"
    assert not np.array_equal(_features(tmp_path / "f"), _features(tmp_path / "full"))


def test_prefetching_writes_the_same_shards(tmp_path):
    photos = _photo_folder(tmp_path / "photos")
    helper = TransferLearningHelper(_edited_vgg())
    plain = featurize_to_disk(helper, _iterator(photos, True), tmp_path / "plain", progress=False)
    prefetched = featurize_to_disk(helper, AsyncDataSetIterator(_iterator(photos, True), 2),
                                   tmp_path / "async", progress=False)
    assert prefetched["decode_mode"] == "draft" and prefetched["label_names"] == ["a", "b"]
    assert [s["examples"] for s in prefetched["shards"]] == [s["examples"] for s in plain["shards"]]
    np.testing.assert_array_equal(_features(tmp_path / "async"), _features(tmp_path / "plain"))
