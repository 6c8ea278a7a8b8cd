"""featurize_to_disk(..., client=...) on a real LocalCluster (worker processes, 127.0.0.1, no
dashboard): the single-process run is the truth.

What must hold: an image folder featurized on the workers gives the single-process shards,
manifest (fingerprint included) and features; the workers read the images (the driver sends
file lists); a worker killed mid-run loses nothing; an interrupted driver resumes without
redoing finished shards; undecodable images are skipped and listed; a folder the workers
cannot see, or a network that cannot be sent, fails before any work.
"""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from PIL import Image

from minidl.data.records import (ImageRecordReader, InputSplit, ParentPathLabelGenerator,
                                 RecordReaderDataSetIterator)
from minidl import ArrayDataSetIterator, ImagePreProcessingScaler
from minidl.scaleout import cluster_client
from transfer import FeaturizedDataSetIterator, TransferLearningHelper, featurize_to_disk
from transfer import featurized as featurized_module
from test_helper import N_CLASSES, _edited_vgg
from vgg_like import SIDE, images

BATCH = 4


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def helper():
    return TransferLearningHelper(_edited_vgg())


def _image_folder(root, per_class=3, bad=()):
    """PNG pictures in N_CLASSES class folders; the names in ``bad`` hold bytes no decoder
    reads."""
    rng = np.random.default_rng(7)
    for c in range(N_CLASSES):
        os.makedirs(root / f"class{c}", exist_ok=True)
        for i in range(per_class):
            path = root / f"class{c}" / f"img{i}.png"
            if path.name in bad and c == 0:
                path.write_bytes(b"not an image at all")
                continue
            pixels = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
    return root


def _image_iterator(root):
    paths = sorted(str(p) for p in root.rglob("*.png"))
    reader = ImageRecordReader(SIDE, SIDE, 3, ParentPathLabelGenerator())
    reader.initialize(InputSplit(paths))
    iterator = RecordReaderDataSetIterator(reader, BATCH, 1, N_CLASSES)
    iterator.set_pre_processor(ImagePreProcessingScaler())
    return iterator


def _manifest(folder):
    with open(folder / "manifest.json") as f:
        return json.load(f)


def _assert_same_features(one, other, rtol=1e-5):
    a, b = list(FeaturizedDataSetIterator(one)), list(FeaturizedDataSetIterator(other))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.features, y.features, rtol=rtol,
                                   atol=rtol * np.abs(y.features).max())
        np.testing.assert_array_equal(x.labels, y.labels)


def test_image_folder_on_workers_equals_single_process(tmp_path, client, helper):
    images_dir = _image_folder(tmp_path / "images")
    single = featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "one",
                               progress=False)
    on_cluster = featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "many",
                                   progress=False, client=client)
    assert on_cluster == single  # same shards, counts, shapes, fingerprint, pre-processor
    assert [s["file"] for s in on_cluster["shards"]] == ["shard-00000.npz", "shard-00001.npz",
                                                         "shard-00002.npz", "shard-00003.npz"]
    _assert_same_features(tmp_path / "one", tmp_path / "many")


def test_workers_read_the_images_themselves(tmp_path, client, helper, monkeypatch):
    """The driver never decodes an image: its loader is made to fail, the run still works."""
    images_dir = _image_folder(tmp_path / "images", per_class=2)
    expected = featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "one",
                                 progress=False)
    iterator = _image_iterator(images_dir)

    def no_decoding_here(*args):
        raise AssertionError("the driver decoded an image")
    # the class is patched in this process only: the worker processes import their own
    monkeypatch.setattr(type(iterator.reader.loader), "as_matrix", no_decoding_here)
    manifest = featurize_to_disk(helper, iterator, tmp_path / "many", progress=False,
                                 client=client)
    assert manifest == expected


def test_any_iterator_on_workers_equals_single_process(tmp_path, client, helper):
    data = images(10, N_CLASSES, 0)
    make = lambda: ArrayDataSetIterator(data.features, data.labels, batch_size=BATCH)  # noqa: E731
    single = featurize_to_disk(helper, make(), tmp_path / "one", progress=False)
    on_cluster = featurize_to_disk(helper, make(), tmp_path / "many", progress=False,
                                   client=client)
    assert on_cluster == single and [s["examples"] for s in single["shards"]] == [4, 4, 2]
    _assert_same_features(tmp_path / "one", tmp_path / "many")


def test_undecodable_images_are_skipped_and_listed(tmp_path, client, helper):
    images_dir = _image_folder(tmp_path / "images", bad=("img1.png",))
    single_iterator, cluster_iterator = _image_iterator(images_dir), _image_iterator(images_dir)
    with pytest.warns(UserWarning, match="skipping"):
        single = featurize_to_disk(helper, single_iterator, tmp_path / "one", progress=False)
    with pytest.warns(UserWarning, match="skipping .*img1.png"):
        many = featurize_to_disk(helper, cluster_iterator, tmp_path / "many", progress=False,
                                 client=client)
    assert [p for p, _ in cluster_iterator.skipped] == [p for p, _ in single_iterator.skipped]
    assert len(cluster_iterator.skipped) == 1
    assert many["num_examples"] == single["num_examples"] == 14
    # the same shards: a batch is its files (RecordReaderDataSetIterator), so the bad image
    # makes only its own shard shorter, in one process as on the cluster
    assert [s["examples"] for s in many["shards"]] == [3, 4, 4, 3]
    assert many["shards"] == single["shards"]
    np.testing.assert_allclose(_all_features(tmp_path / "many"), _all_features(tmp_path / "one"),
                               rtol=1e-5, atol=1e-5)


def _all_features(folder):
    return np.concatenate([batch.features for batch in FeaturizedDataSetIterator(folder)])


def test_interrupted_driver_resumes_only_missing_shards(tmp_path, client, helper, monkeypatch):
    images_dir = _image_folder(tmp_path / "images")
    folder = tmp_path / "many"
    featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "one", progress=False)
    calls = []
    original = featurized_module._write_manifest

    def interrupt_after_two(directory, manifest):
        original(directory, manifest)
        if len(manifest["shards"]) == 2 and not manifest.get("complete"):
            raise KeyboardInterrupt
    monkeypatch.setattr(featurized_module, "_write_manifest", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        featurize_to_disk(helper, _image_iterator(images_dir), folder, progress=False,
                          client=client)
    monkeypatch.setattr(featurized_module, "_write_manifest", original)
    finished = {s["file"] for s in _manifest(folder)["shards"]}
    assert len(finished) == 2
    submit = client.submit

    def counting(function, *args, **kwargs):  # the shard names the driver submits
        if function.__name__ == "_featurize_part":
            calls.append(args[3])
        return submit(function, *args, **kwargs)
    monkeypatch.setattr(client, "submit", counting)
    manifest = featurize_to_disk(helper, _image_iterator(images_dir), folder, progress=False,
                                 client=client)
    assert manifest["complete"] and len(manifest["shards"]) == 4
    assert sorted(calls) == sorted({f"shard-{i:05d}.npz" for i in range(4)} - finished)
    _assert_same_features(tmp_path / "one", folder)


def _kill_a_worker_when_a_shard_appears(client, folder, killed):
    deadline = time.time() + 60
    while time.time() < deadline:
        if any(n.startswith("shard-") for n in os.listdir(folder)):
            pids = client.run(os.getpid)
            os.kill(sorted(pids.values())[0], signal.SIGKILL)
            killed.append(True)
            return
        time.sleep(0.005)


def test_a_killed_worker_loses_nothing(tmp_path, client, helper):
    images_dir = _image_folder(tmp_path / "images", per_class=8)
    featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "one", progress=False)
    folder = tmp_path / "many"
    folder.mkdir()
    killed = []
    killer = threading.Thread(target=_kill_a_worker_when_a_shard_appears,
                              args=(client, folder, killed))
    killer.start()
    manifest = featurize_to_disk(helper, _image_iterator(images_dir), folder, progress=False,
                                 client=client)
    killer.join()
    assert killed, "no worker was killed: the run ended before the first shard was seen"
    assert manifest == _manifest(tmp_path / "one") and len(manifest["shards"]) == 10
    _assert_same_features(tmp_path / "one", folder)
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
    _wait_for_workers(client, 2)


def _wait_for_workers(client, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if len(client.run(os.getpid)) == n:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the cluster did not get back to {n} workers")


def test_a_folder_the_workers_cannot_see_fails_before_any_work(tmp_path, client, helper,
                                                               monkeypatch):
    from minidl.scaleout import cluster
    # the workers look for the driver's probe under another name: as a folder local to the
    # driver's machine looks to a worker elsewhere
    monkeypatch.setattr(cluster, "_write_probe", _probe_elsewhere(cluster._write_probe))
    images_dir = _image_folder(tmp_path / "images", per_class=1)
    with pytest.raises(OSError, match="every Dask worker sees .*cannot read"):
        featurize_to_disk(helper, _image_iterator(images_dir), tmp_path / "out",
                          progress=False, client=client)
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith("shard")]


def _probe_elsewhere(write_probe):
    def driver_probe(directory, token):
        path, error = write_probe(directory, token)
        os.rename(path, path + "-moved")  # still on the driver's disk, not where workers look
        open(path, "w").close()  # an empty file: the token is not there
        return path, error
    return driver_probe


def test_a_network_that_cannot_be_sent_names_the_layer(tmp_path, client):
    net = _edited_vgg()
    layer = net.get_layer("fc1")
    inner = getattr(layer, "layer", layer)  # a frozen wrapper holds the layer
    object.__setattr__(inner, "lock", threading.Lock())
    helper = TransferLearningHelper(net)
    with pytest.raises(TypeError, match="fc1.*cannot be serialized"):
        featurize_to_disk(helper, ArrayDataSetIterator(*_arrays(), batch_size=BATCH),
                          tmp_path / "out", progress=False, client=client)
    assert not (tmp_path / "out" / "manifest.json").exists()


def _arrays():
    data = images(4, N_CLASSES, 0)
    return data.features, data.labels
