"""predict: the top K classes of each image with their probabilities (text and JSON), class
names from the zip, --labels or ImageNet's for zoo models, unreadable images on their line."""

import json

import numpy as np
import pytest

from minidl import ImagePreProcessingScaler, ModelSerializer, NativeImageLoader, cli
from tests.minidl.cli.cli_checks import one_error_line

CLASSES = ["circle", "diamond", "ring", "square"]


def probabilities(model, path):
    net = ModelSerializer.restore_computation_graph(model)
    x = ImagePreProcessingScaler().transform(NativeImageLoader(32, 32, 3).as_matrix(str(path)))
    return net.output_single(x)[0]


def test_json_gives_the_top_k_of_the_models_output(files, trained, tmp_path, capsys):
    images = [files / "images" / "ring" / "0003.png", files / "images" / "square" / "0001.png"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    argv = ["predict", str(trained), str(images[0]), str(broken), str(images[1]), "--top", "3"]
    assert cli.main(argv + ["--json"]) == 1  # one image failed
    results = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in results] == [str(images[0]), str(broken), str(images[1])]
    assert "broken.png" in results[1]["error"] and "predictions" not in results[1]
    for result, image in zip(results[::2], images):
        p = probabilities(trained, image)
        order = np.argsort(-p)[:3]
        assert [x["label"] for x in result["predictions"]] == [CLASSES[k] for k in order]
        assert [x["probability"] for x in result["predictions"]] == \
            pytest.approx([float(p[k]) for k in order], rel=1e-5)

    assert cli.main(argv) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[1].startswith(f"{broken}: error: ")
    p = probabilities(trained, images[1])
    top = [CLASSES[k] for k in np.argsort(-p)[:3]]
    assert lines[2] == f"{images[1]}: " + ", ".join(
        f"{name} ({p[CLASSES.index(name)]:.2%})" for name in top)


def test_a_model_without_class_names_asks_for_labels(files, tmp_path, capsys):
    image = str(files / "images" / "ring" / "0000.png")
    assert cli.main(["predict", str(files / "source.zip"), image]) == 1
    assert "has no class names: pass --labels FILE" in one_error_line(capsys)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class {i}" for i in range(10)) + "\n")
    assert cli.main(["predict", str(files / "source.zip"), image, "--labels", str(labels),
                     "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: class ")
    labels.write_text("one\ntwo\n")
    assert cli.main(["predict", str(files / "source.zip"), image, "--labels", str(labels)]) == 1
    assert "2 class names for a model with 10 outputs" in one_error_line(capsys)
    assert cli.main(["predict", str(files / "source.zip"), image, "--labels", "nope.txt"]) == 1
    assert "--labels 'nope.txt' is not a file" in one_error_line(capsys)
    assert cli.main(["predict", str(files / "notop.zip"), image]) == 1
    assert "ends in a feature map" in one_error_line(capsys)


def test_a_zoo_model_is_named_with_the_shipped_imagenet_classes(files, monkeypatch, capsys):
    """A stand-in for pretrained VGG16 (1000 softmax outputs; no download): predict names its
    classes with ImageNet's names."""
    import zoo
    from minidl import (Activation, ComputationGraph, DenseLayer, InputType,
                        NeuralNetConfiguration)
    conf = (NeuralNetConfiguration.Builder().seed(1).graph_builder().add_inputs("input_1")
            .add_layer("predictions", DenseLayer(n_out=1000, activation=Activation.SOFTMAX),
                       "input_1")
            .set_outputs("predictions").set_input_types(InputType.convolutional(4, 4, 3))
            .build())
    stand_in = ComputationGraph(conf).init()
    monkeypatch.setattr(zoo.VGG16, "init_pretrained", lambda self, **kwargs: stand_in)
    image = str(files / "images" / "ring" / "0000.png")
    assert cli.main(["predict", "vgg16", image, "--top", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    from minidl.data import VGG16ImagePreProcessor
    x = VGG16ImagePreProcessor().transform(NativeImageLoader(4, 4, 3).as_matrix(image))
    p = stand_in.output_single(x)[0]
    names = zoo.ImageNetLabels().labels
    assert [r["label"] for r in result["predictions"]] == [names[k] for k in np.argsort(-p)[:2]]
