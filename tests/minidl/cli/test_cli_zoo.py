"""The commands on a real zoo layout: MobileNetV2 with a Keras weight file the tests write
(random weights, 1000 classes; tests/zoo/mobilenet_files.py), named as the zoo name: predict
names its classes with the shipped ImageNet names, transfer freezes it up to its global
pooling, and featurize takes its no-top layout's last vertex."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl import NativeImageLoader, cli

pytest.importorskip("h5py")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "zoo"))
from mobilenet_files import keras_layers, random_arrays  # noqa: E402
from weight_files import write_keras_h5  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mobilenet-cli")
    top = write_keras_h5(folder / "top.h5", random_arrays(1000),
                         [name for name, _, _ in keras_layers(1000)], style="nested")
    notop = write_keras_h5(folder / "notop.h5", random_arrays(0),
                           [name for name, _, _ in keras_layers(0)], style="nested")
    return top, notop


@pytest.mark.slow
def test_mobilenetv2_by_name(weights, files, tmp_path, monkeypatch, capsys):
    import zoo
    monkeypatch.setenv("MINIDL_HOME", str(tmp_path / "home"))
    top, notop = weights
    image = str(files / "images" / "ring" / "0000.png")
    assert cli.main(["--quiet", "predict", "mobilenetv2", "--weights", str(top), image,
                     "--json", "--top", "3"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    names = zoo.ImageNetLabels().labels
    # the same network, the weights' own preprocessing (Keras: pixels to [-1, 1])
    net = zoo.MobileNetV2().init_pretrained(weights=str(top))
    x = net.pre_processor.transform(NativeImageLoader(224, 224, 3).as_matrix(image))
    p = net.output_single(x)[0]
    assert [r["label"] for r in result["predictions"]] == [names[k] for k in np.argsort(-p)[:3]]
    assert [r["probability"] for r in result["predictions"]] == \
        pytest.approx(sorted(p, reverse=True)[:3], rel=1e-5)

    assert cli.main(["--quiet", "transfer", "mobilenetv2", "--weights", str(top), "--data",
                     str(files / "images"), "-o", str(tmp_path / "m.zip"), "--epochs", "1"]) == 0
    assert "frozen up to global_average_pooling2d" in capsys.readouterr().out

    assert cli.main(["--quiet", "featurize", "mobilenetv2", "--weights", str(notop), "--no-top",
                     "--layer", "out_relu", "--data", str(files / "images"), "--out",
                     str(tmp_path / "f")]) == 0
    assert "1280x7x7 features" in capsys.readouterr().out
