"""Featurized datasets on disk (transfer/featurized.py).

What must hold: the shards hold exactly what ``helper.featurize`` gives batch by batch; the
reader gives them back; fitting from disk equals fitting the frozen network; an interrupted run
resumes without redoing finished shards and ends with the same files; a folder made by another
model is refused; incomplete or damaged folders give clear errors; the manifest remembers the
images' pre-processor and the reader gives it back.
"""

import json
import os

import numpy as np
import pytest

from devices import devices_of, host
from minidl import ArrayDataSetIterator, NormalizerStandardize
from minidl.backend import gpu_available, set_device
from transfer import FeaturizedDataSetIterator, TransferLearningHelper, featurize_to_disk
from transfer import featurized as featurized_module
from test_helper import N_CLASSES, _edited_vgg
from vgg_like import images

BATCH = 4


def _iterator(n=10, seed=0):
    data = images(n, N_CLASSES, seed)
    return ArrayDataSetIterator(data.features, data.labels, batch_size=BATCH)


def _helper():
    return TransferLearningHelper(_edited_vgg())


def test_shards_hold_what_featurize_gives(tmp_path, device):
    helper, iterator = _helper(), _iterator()
    manifest = featurize_to_disk(helper, iterator, tmp_path, progress=False)
    assert manifest["complete"] and manifest["num_examples"] == 10
    assert [s["examples"] for s in manifest["shards"]] == [4, 4, 2]
    assert manifest["boundary"] == ["fc2"]
    reader = FeaturizedDataSetIterator(tmp_path)
    assert reader.total_examples() == 10 and len(reader) == 3
    for batch, stored in zip(iterator, reader):
        expected = helper.featurize(batch)
        assert type(stored.features) is np.ndarray  # written to disk: back on the host
        np.testing.assert_array_equal(stored.features, host(expected.features))
        np.testing.assert_array_equal(stored.labels, batch.labels)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_fit_from_disk_equals_fit_on_frozen_network(tmp_path, device):
    frozen_net, iterator = _edited_vgg(), _iterator()
    helper = TransferLearningHelper(frozen_net.clone())
    featurize_to_disk(helper, iterator, tmp_path, progress=False)
    reader = FeaturizedDataSetIterator(tmp_path)
    for _ in range(2):
        helper.fit_featurized(reader)  # host shards feed a network on the device
        frozen_net.fit(iterator)
    assert devices_of(helper.network) == devices_of(helper.unfrozen) == {device}
    np.testing.assert_array_equal(host(helper.network.params()), host(frozen_net.params()))


def test_interrupted_run_resumes_without_redoing_shards(tmp_path, monkeypatch, device):
    helper, iterator = _helper(), _iterator()
    real_save = featurized_module._save_shard
    calls = []

    def failing_save(path, data):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third shard
        calls.append(os.path.basename(path))
        return real_save(path, data)

    monkeypatch.setattr(featurized_module, "_save_shard", failing_save)
    with pytest.raises(KeyboardInterrupt):
        featurize_to_disk(helper, iterator, tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert not manifest["complete"] and len(manifest["shards"]) == 2
    with pytest.raises(ValueError, match="incomplete"):
        FeaturizedDataSetIterator(tmp_path)

    calls.clear()
    monkeypatch.setattr(featurized_module, "_save_shard",
                        lambda path, data: calls.append(os.path.basename(path)) or
                        real_save(path, data))
    manifest = featurize_to_disk(helper, iterator, tmp_path, progress=False)
    assert calls == ["shard-00002.npz"]  # only the missing shard was computed
    assert manifest["complete"] and manifest["num_examples"] == 10

    fresh = tmp_path / "fresh"
    featurize_to_disk(helper, iterator, fresh, progress=False)
    for resumed, clean in zip(FeaturizedDataSetIterator(tmp_path), FeaturizedDataSetIterator(fresh)):
        np.testing.assert_array_equal(resumed.features, clean.features)


def test_complete_folder_is_not_recomputed(tmp_path, monkeypatch):
    helper, iterator = _helper(), _iterator()
    featurize_to_disk(helper, iterator, tmp_path, progress=False)
    monkeypatch.setattr(featurized_module, "_save_shard",
                        lambda *a: pytest.fail("a complete dataset was featurized again"))
    assert featurize_to_disk(helper, iterator, tmp_path, progress=False)["complete"]


def test_the_same_model_on_the_host_finds_a_device_made_folder_complete(tmp_path, monkeypatch,
                                                                       device):
    featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False)  # on ``device``
    set_device("cpu")  # the same model (same seed), made on the host: the same fingerprint
    monkeypatch.setattr(featurized_module, "_save_shard",
                        lambda *a: pytest.fail("a complete dataset was featurized again"))
    assert featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False)["complete"]


def test_folder_of_another_model_is_refused(tmp_path, device):
    helper = _helper()
    featurize_to_disk(helper, _iterator(), tmp_path, progress=False)
    other = _helper()
    other.network.param_tables["fc1"]["W"].data += 1.0  # a different frozen part
    with pytest.raises(ValueError, match="different model or boundary"):
        featurize_to_disk(other, _iterator(), tmp_path, progress=False)
    manifest = featurize_to_disk(other, _iterator(), tmp_path, progress=False, overwrite=True)
    assert manifest["complete"]


def test_missing_and_damaged_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="featurize_to_disk"):
        FeaturizedDataSetIterator(tmp_path)
    featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False)
    (tmp_path / "shard-00001.npz").write_bytes(b"PK\x03\x04 truncated")
    reader = FeaturizedDataSetIterator(tmp_path)
    reader.next()
    with pytest.raises(ValueError, match="shard-00001.npz"):
        reader.next()


def test_shuffled_reading_is_seeded_and_complete(tmp_path):
    featurize_to_disk(_helper(), _iterator(n=16), tmp_path, progress=False)
    first = [b.features.sum() for b in FeaturizedDataSetIterator(tmp_path, shuffle=True, seed=3)]
    again = [b.features.sum() for b in FeaturizedDataSetIterator(tmp_path, shuffle=True, seed=3)]
    plain = [b.features.sum() for b in FeaturizedDataSetIterator(tmp_path)]
    assert first == again and sorted(first) == sorted(plain)


# -- the images' pre-processor, remembered ------------------------------------------------------

def _normalized_iterator(n=10, seed=0):
    iterator = _iterator(n, seed)
    iterator.set_pre_processor(NormalizerStandardize().fit(iterator))  # per-channel statistics
    return iterator


def test_the_manifest_remembers_the_pre_processor(tmp_path, device):
    iterator = _normalized_iterator()
    normalizer = iterator.get_pre_processor()
    featurize_to_disk(_helper(), iterator, tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pre_processor"]["settings"] == {"type": "NormalizerStandardize",
                                                     "fit_labels": False}
    assert manifest["pre_processor"]["arrays"]["mean"] == normalizer.mean.tolist()
    reader = FeaturizedDataSetIterator(tmp_path)
    restored = reader.sourcePreProcessor()  # DL4J-style spelling works too
    assert isinstance(restored, NormalizerStandardize)
    assert reader.get_pre_processor() is None  # remembered, not applied to the features
    pictures = images(3, N_CLASSES, seed=5).features
    np.testing.assert_array_equal(host(restored.transform(pictures)),
                                  host(normalizer.transform(pictures)))


def test_without_a_pre_processor_there_is_none_to_give_back(tmp_path):
    featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text())["pre_processor"] is None
    assert FeaturizedDataSetIterator(tmp_path).source_pre_processor() is None


def test_a_manifest_older_than_the_pre_processor_key_still_loads(tmp_path):
    featurize_to_disk(_helper(), _normalized_iterator(), tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["pre_processor"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    reader = FeaturizedDataSetIterator(tmp_path)
    assert reader.source_pre_processor() is None and len(list(reader)) == 3
    # and it is still taken as complete by a run with the normalizer
    assert featurize_to_disk(_helper(), _normalized_iterator(), tmp_path, progress=False)["complete"]


def test_a_folder_made_with_another_pre_processor_is_refused(tmp_path):
    featurize_to_disk(_helper(), _normalized_iterator(), tmp_path, progress=False)
    with pytest.raises(ValueError, match="different pre-processor"):
        featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False)
    featurize_to_disk(_helper(), _iterator(), tmp_path, progress=False, overwrite=True)
    assert FeaturizedDataSetIterator(tmp_path).source_pre_processor() is None


def test_a_pre_processor_that_cannot_be_saved_is_named(tmp_path):
    class Halve:
        def pre_process(self, dataset):
            dataset.features = dataset.features / 2

    iterator = _iterator()
    iterator.set_pre_processor(Halve())
    with pytest.warns(UserWarning, match="Halve is not a DataNormalization"):
        featurize_to_disk(_helper(), iterator, tmp_path, progress=False)
    with pytest.raises(ValueError, match="went through a Halve, which the manifest could not"):
        FeaturizedDataSetIterator(tmp_path).source_pre_processor()


def test_a_damaged_pre_processor_record_gives_a_clear_error(tmp_path):
    featurize_to_disk(_helper(), _normalized_iterator(), tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["pre_processor"]["settings"]["type"] = "NoSuchNormalizer"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest\.json is damaged.*NoSuchNormalizer"):
        FeaturizedDataSetIterator(tmp_path).source_pre_processor()


def test_a_folder_made_from_other_data_is_refused(tmp_path):
    helper = _helper()
    first = {"folder": "/photos/flowers", "seed": 12345, "batch_size": BATCH}
    featurize_to_disk(helper, _iterator(), tmp_path, data=first, progress=False)
    # the same data again: complete, reused
    assert featurize_to_disk(helper, _iterator(), tmp_path, data=dict(first), progress=False)
    other = {**first, "folder": "/photos/cats"}
    with pytest.raises(featurized_module.FeaturesMismatchError, match="other data"):
        featurize_to_disk(helper, _iterator(seed=1), tmp_path, data=other, progress=False)
    # not said on one side: nothing to compare, as before the data was recorded
    assert featurize_to_disk(helper, _iterator(), tmp_path, progress=False)["complete"]
    manifest = featurize_to_disk(helper, _iterator(seed=1), tmp_path, data=other, progress=False,
                                 overwrite=True)
    assert manifest["data"] == other


@pytest.mark.parametrize("device", ["gpu-emulated", pytest.param("gpu", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA device")])],
    indirect=True)
def test_half_precision_shards_are_float32_and_recorded(tmp_path, device):
    helper, iterator = _helper(), _iterator()
    manifest = featurize_to_disk(helper, iterator, tmp_path, progress=False, precision="fp16")
    assert manifest["precision"] == "fp16"
    for batch, stored in zip(iterator, FeaturizedDataSetIterator(tmp_path)):
        assert stored.features.dtype == np.float32
        np.testing.assert_array_equal(  # the same features as helper.featurize in fp16
            stored.features, host(helper.featurize(batch, precision="fp16").features))
        full = host(helper.featurize(batch).features)
        np.testing.assert_allclose(stored.features, full, atol=5e-3 * np.abs(full).max())
    # Features in one precision are not resumed or reused as the other's.
    with pytest.raises(featurized_module.FeaturesMismatchError, match=r"another precision \(fp16"):
        featurize_to_disk(helper, iterator, tmp_path, progress=False)
    assert featurize_to_disk(helper, iterator, tmp_path, progress=False,
                             overwrite=True)["precision"] == "fp32"


def test_half_precision_on_the_cpu_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="'fp16' runs on the GPU only"):
        featurize_to_disk(_helper(), _iterator(), tmp_path / "f", progress=False,
                          precision="fp16")
    assert not (tmp_path / "f").exists()
