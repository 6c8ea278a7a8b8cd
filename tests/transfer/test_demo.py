"""transfer.demo: the generated data, the small VGG, and the story (transfer beats from-scratch)."""

import numpy as np
import pytest

from transfer import demo


def test_pictures_are_deterministic_by_seed_and_differ_between_seeds():
    a, labels = demo.make_images(demo.TARGET_SHAPES, 2, seed=3)
    b, _ = demo.make_images(demo.TARGET_SHAPES, 2, seed=3)
    c, _ = demo.make_images(demo.TARGET_SHAPES, 2, seed=4)
    assert a.shape == (10, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert labels.tolist() == [0, 1, 2, 3, 4] * 2


def test_dataset_matches_the_image_pipeline(tmp_path):
    """to_dataset gives what ImageRecordReader + ImagePreProcessingScaler read from the PNGs."""
    from minidl.data import (FileSplit, ImagePreProcessingScaler, ImageRecordReader,
                             ParentPathLabelGenerator, RecordReaderDataSetIterator)
    shapes = demo.SOURCE_SHAPES[:3]
    demo.write_image_folder(tmp_path, shapes, 2, seed=5)
    images, labels = demo.make_images(shapes, 2, seed=5)
    expected = demo.to_dataset(images, labels, 3)
    reader = ImageRecordReader(32, 32, 3, ParentPathLabelGenerator())
    reader.initialize(FileSplit(str(tmp_path)))
    iterator = RecordReaderDataSetIterator(reader, 6, 1, 3)
    iterator.set_pre_processor(ImagePreProcessingScaler())
    batch = iterator.next()
    assert reader.get_labels() == sorted(shapes)
    # same pictures in another order: compare as sorted sets of (label name, pixels)
    def rows(ds, names):
        return sorted((names[int(np.argmax(y))], x.round(5).tobytes())
                      for x, y in zip(ds.features, ds.labels))
    assert rows(batch, reader.get_labels()) == rows(expected, list(shapes))


def test_small_vgg_has_dl4j_vertex_names_and_shapes():
    net = demo.small_vgg(7, seed=1)
    names = set(net.conf.vertices) | set(net.input_names)
    for name in ("input_1", "block1_conv1", "block4_pool", "block5_pool", "flatten", "fc1", "fc2",
                 "predictions"):
        assert name in names
    out = net.output_single(np.zeros((2, 3, 32, 32), np.float32))
    assert out.shape == (2, 7)
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="multiple of 32"):
        demo.small_vgg(3, size=40)


def test_save_plot_writes_a_png(tmp_path):
    from PIL import Image
    path = demo.save_plot({"a": [0.1, 0.5, 0.9], "b": [0.2, 0.3]}, tmp_path / "c.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (640, 400)
        # a curve was drawn: some pixels have the first curve's colour
        assert (np.asarray(image.convert("RGB")) == demo.plot._COLOURS[0]).all(-1).any()


@pytest.fixture
def shared_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.getbasetemp() / "demo-home"  # shared with tests/examples
    monkeypatch.setenv("MINIDL_HOME", str(home))
    return home


def test_fast_demo_transfer_beats_from_scratch(device, shared_home, tmp_path):
    lines = []
    result = demo.run_demo(fast=True, plot=tmp_path / "curves.png", progress=False,
                           log=lines.append)
    assert result["accuracy_transfer"] > result["accuracy_scratch"]
    assert result["accuracy_head"] > result["accuracy_before"] + 0.2
    assert result["accuracy_source"] > 0.5
    assert result["frozen_params_unchanged"]
    assert result["featurized_epoch_s"] < result["frozen_epoch_s"]
    assert (tmp_path / "curves.png").is_file()
    assert demo.source_model_path(12345, demo.FAST).is_file()
    # the cached model says how its pictures were scaled (0..255 -> 0..1), for `minidl evaluate`
    from minidl import ImagePreProcessingScaler, ModelSerializer
    normalizer = ModelSerializer.restore_normalizer_from_file(
        demo.source_model_path(12345, demo.FAST))
    assert isinstance(normalizer, ImagePreProcessingScaler)
    text = "\n".join(lines)
    assert "transfer wins" in text and "FrozenLayer<ConvolutionLayer>" in text
    assert "Frozen Parameters" in text


@pytest.mark.slow
def test_full_demo_cold_and_warm_under_two_minutes(minidl_home):
    cold = demo.run_demo(progress=False, log=lambda *a: None)
    warm = demo.run_demo(progress=False, log=lambda *a: None)
    assert not cold["source_cached"] and warm["source_cached"]
    assert cold["accuracy_transfer"] > cold["accuracy_scratch"]
    assert cold["seconds"] < 120 and warm["seconds"] < 120


def test_a_bad_device_setting_is_not_taken_for_a_damaged_cache(shared_home, monkeypatch):
    from minidl import backend
    demo.pretrained_source_model(12345, demo.FAST)  # cached
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("MINIDL_DEVICE", "banana")
    lines = []
    with pytest.raises(ValueError, match="unknown device 'banana'"):
        demo.pretrained_source_model(12345, demo.FAST, log=lines.append)
    assert lines == []  # the cache file was not called damaged
