"""featurize at a model's last vertex, and fit-featurized putting a new head on it (with and
without a hidden layer), with TensorBoard events and a plot; the saved zip is the whole network
with its class names and preprocessing."""

import json
import zipfile

import numpy as np
import pytest

from minidl import ModelSerializer, cli
from tests.minidl.cli.cli_checks import one_error_line, usage_error

CLASSES = ["circle", "diamond", "ring", "square"]  # the folders, sorted


def fit(files, features, out, *extra):
    return cli.main(["--quiet", "fit-featurized", str(files / "notop.zip"), str(features),
                     "-o", str(out), "--epochs", "10", *extra])


def accuracy_on_every_image(files, model, capsys):
    assert cli.main(["--quiet", "evaluate", str(model), "--data", str(files / "images"),
                     "--json"]) == 0  # --preprocess auto: the zip's own
    return json.loads(capsys.readouterr().out)["accuracy"]


def test_features_at_the_last_vertex_are_its_output(files, notop_features):
    manifest = json.loads((notop_features / "train" / "manifest.json").read_text())
    assert manifest["boundary"] == ["block5_pool"] and manifest["feature_shapes"] == [[32, 1, 1]]
    with np.load(notop_features / "train" / "shard-00000.npz") as shard:
        features = shard["features_0"]
    # the same images through the whole no-top network: its output
    net = ModelSerializer.restore_computation_graph(files / "notop.zip")
    from minidl import ImagePreProcessingScaler, NativeImageLoader
    from minidl.data import FileSplit
    first = FileSplit(str(files / "images"), seed=12345).locations()  # what featurize read
    loader, scaler = NativeImageLoader(32, 32, 3), ImagePreProcessingScaler()
    outputs = np.concatenate([net.output_single(scaler.transform(loader.as_matrix(p)))
                              for p in first]).reshape(len(first), 1, -1)
    # each feature row is the network's output on one of the images
    distance = np.abs(outputs - features.reshape(1, len(features), -1)).max(axis=2)
    assert distance.min(axis=0).max() < 1e-5


@pytest.mark.parametrize("hidden", [["--learning-rate", "0.05"],
                                    ["--learning-rate", "0.02", "--hidden", "12", "--dropout",
                                     "0.25"]], ids=["output-only", "hidden"])
def test_a_new_head_on_the_last_vertex(files, notop_features, tmp_path, capsys, hidden):
    out = tmp_path / "head.zip"
    assert fit(files, notop_features, out, *hidden) == 0
    assert "Evaluation of the test part (8 examples)" in capsys.readouterr().out
    assert accuracy_on_every_image(files, out, capsys) >= 0.6  # 4 classes: chance is 0.25
    hidden = "--hidden" in hidden

    net = ModelSerializer.restore_computation_graph(out)
    layers = dict(net.layer_items())
    assert all(layers[f"block{b}_conv1"].frozen for b in range(1, 6))
    head = net.get_layer("predictions")
    assert not head.frozen and head.n_out == 4
    if hidden:
        assert net.get_layer("head_hidden").n_out == 12 and head.n_in == 12
        assert head.dropout == pytest.approx(0.75)  # DL4J's retain probability
    else:
        assert head.n_in == 32 and "head_hidden" not in layers
    assert net.wiring.vertex_inputs["predictions"] == ["head_hidden" if hidden else "block5_pool"]
    # the whole network: the frozen part is notop.zip's, unchanged
    source = ModelSerializer.restore_computation_graph(files / "notop.zip")
    np.testing.assert_array_equal(net.param_table()["block3_conv1_W"],
                                  source.param_table()["block3_conv1_W"])
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("objects/class_names.json")) == CLASSES
    assert type(ModelSerializer.restore_normalizer_from_file(out)).__name__ == \
        "ImagePreProcessingScaler"


def test_tensorboard_events_and_plot(files, notop_features, tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    from PIL import Image
    from tests.minidl.nn.tensorboard_events import read_events
    assert fit(files, notop_features, tmp_path / "m.zip", "--epochs", "3",
               "--learning-rate", "0.05", "--tensorboard",
               str(tmp_path / "tb"), "--plot", str(tmp_path / "curves.png")) == 0
    printed = capsys.readouterr().out
    scalars, _ = read_events(tmp_path / "tb")
    n_batches = 2  # 32 training examples in batches of 16
    assert [step for step, _ in scalars["score"]] == list(range(3 * n_batches))
    assert [step for step, _ in scalars["test/accuracy"]] == [2, 4, 6]
    final = float(printed.split("Accuracy:")[1].split()[0])
    assert scalars["test/accuracy"][-1][1] == pytest.approx(final, abs=1e-4)
    assert [v for _, v in scalars["learning_rate"]] == pytest.approx([0.05] * 6)
    assert "norms/predictions_W/update" in scalars
    assert Image.open(tmp_path / "curves.png").size == (640, 800)  # score and accuracy panels


def test_head_options_are_checked(files, notop_features, tmp_path, capsys):
    base = ["fit-featurized", str(files / "notop.zip"), str(notop_features), "-o",
            str(tmp_path / "m.zip")]
    assert "--dropout needs --hidden N" in usage_error(base + ["--dropout", "0.5"], capsys)
    assert "expected a probability from 0 to below 1, got 1.5" in \
        usage_error(base + ["--hidden", "4", "--dropout", "1.5"], capsys)
    assert "above 0, got 0" in usage_error(base + ["--hidden", "0"], capsys)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert cli.main(base + ["--tensorboard", str(a_file)]) == 1
    assert "--tensorboard" in one_error_line(capsys)
    assert cli.main(base + ["--plot", str(tmp_path)]) == 1
    assert "is a folder" in one_error_line(capsys)
    assert cli.main(base + ["--layer", "block9_pool"]) == 1
    assert "no vertex named 'block9_pool'" in one_error_line(capsys)


def test_a_trained_model_keeps_its_head(files, notop_features, tmp_path, capsys):
    assert fit(files, notop_features, tmp_path / "m.zip", "--epochs", "1") == 0
    capsys.readouterr()
    # featurizing the trained model again reuses its frozen part: the same features
    assert cli.main(["--quiet", "featurize", str(tmp_path / "m.zip"), "--data",
                     str(files / "images"), "--out", str(tmp_path / "f"),
                     "--preprocess", "scale"]) == 0
    capsys.readouterr()
    assert cli.main(["fit-featurized", str(tmp_path / "m.zip"), str(tmp_path / "f"), "-o",
                     str(tmp_path / "n.zip"), "--hidden", "4"]) == 1
    assert "trained head already" in one_error_line(capsys)


def test_half_precision_needs_the_gpu(files, tmp_path, capsys):
    for command in ("featurize", "transfer"):
        out = ["--out", str(tmp_path / "f")] if command == "featurize" else \
            ["-o", str(tmp_path / "m.zip")]
        assert cli.main([command, str(files / "notop.zip"), "--layer", "block5_pool", "--data",
                         str(files / "images"), *out, "--precision", "fp16"]) == 1
        assert "--precision fp16 runs on the GPU only: add --device gpu" in \
            one_error_line(capsys)
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize("device", ["gpu-emulated"], indirect=True)
def test_featurize_in_half_precision_on_the_gpu(files, notop_features, tmp_path, device):
    out = tmp_path / "f16"
    assert cli.main(["--quiet", "--device", "gpu", "featurize", str(files / "notop.zip"),
                     "--layer", "block5_pool", "--data", str(files / "images"), "--out",
                     str(out), "--preprocess", "scale", "--precision", "fp16"]) == 0
    manifest = json.loads((out / "train" / "manifest.json").read_text())
    assert manifest["precision"] == "fp16"
    with np.load(out / "train" / "shard-00000.npz") as half, \
            np.load(notop_features / "train" / "shard-00000.npz") as full:
        assert half["features_0"].dtype == np.float32
        scale = np.abs(full["features_0"]).max()
        np.testing.assert_allclose(half["features_0"], full["features_0"], atol=5e-3 * scale)
