"""transfer: featurize, fit a new head, evaluate and save in one command."""

import json
import os
import zipfile

import pytest

from minidl import ModelSerializer, cli
from tests.minidl.cli.cli_checks import one_error_line


def test_transfer_in_one_command_caches_its_features(files, tmp_path, capsys):
    out, features = tmp_path / "t.zip", tmp_path / "features"
    argv = ["--quiet", "transfer", str(files / "source.zip"), "--data", str(files / "images"),
            "-o", str(out), "--features", str(features), "--preprocess", "scale",
            "--learning-rate", "0.05", "--epochs", "10"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    # the default layer of a model with its classifier: the vertex its output reads
    assert "frozen up to fc2; training 1 layer(s) for 4 classes" in printed
    assert "Evaluation of the test part (8 examples)" in printed
    assert float(printed.split("Accuracy:")[1].split()[0]) >= 0.75
    net = ModelSerializer.restore_computation_graph(out)
    assert net.get_layer("fc2").frozen and net.get_layer("predictions").n_out == 4
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read("objects/class_names.json")) == \
            ["circle", "diamond", "ring", "square"]
    # a second run reuses the features on disk: no shard is written again
    shard = features / "train" / "shard-00000.npz"
    written = os.stat(shard).st_mtime_ns
    assert cli.main(argv + ["--epochs", "1"]) == 0
    assert os.stat(shard).st_mtime_ns == written
    # the model predicts with its own names
    capsys.readouterr()
    assert cli.main(["predict", str(out), str(files / "images" / "ring" / "0000.png"),
                     "--top", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["predictions"][0]["label"] in \
        ["circle", "diamond", "ring", "square"]


def test_transfer_without_a_top_uses_a_temporary_folder_and_a_hidden_head(files, tmp_path,
                                                                         capsys, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    pytest.importorskip("tensorboardX")
    from tests.minidl.nn.tensorboard_events import read_events
    assert cli.main(["--quiet", "transfer", str(files / "notop.zip"), "--data",
                     str(files / "images"), "-o", str(tmp_path / "t.zip"), "--preprocess",
                     "scale", "--hidden", "8", "--epochs", "2", "--learning-rate", "0.02",
                     "--tensorboard", str(tmp_path / "tb")]) == 0
    assert "frozen up to block5_pool" in capsys.readouterr().out  # the last vertex
    assert os.listdir(tmp_path / "tmp") == []  # the features' folder is gone
    assert ModelSerializer.restore_computation_graph(tmp_path / "t.zip") \
        .get_layer("head_hidden").n_out == 8
    scalars, _ = read_events(tmp_path / "tb")
    assert len(scalars["score"]) == 4 and len(scalars["test/accuracy"]) == 2


def test_transfer_checks_its_paths_before_any_work(files, tmp_path, capsys, monkeypatch):
    import transfer
    monkeypatch.setattr(transfer, "featurize_to_disk", lambda *a, **k: pytest.fail("featurized"))
    base = ["transfer", str(files / "source.zip"), "--data", str(files / "images")]
    cases = [
        (base + ["-o", str(tmp_path)], "is a folder: expected a file name"),
        (base + ["-o", str(tmp_path / "t.zip"), "--features", str(files / "images" / "f")],
         "--features"),
        (base + ["-o", str(tmp_path / "t.zip"), "--plot", str(tmp_path)], "is a folder"),
        (["transfer", str(files / "source.zip"), "--data", str(tmp_path / "none"), "-o",
          str(tmp_path / "t.zip")], "does not exist"),
    ]
    for argv, expected in cases:
        assert cli.main(argv) == 1, argv
        assert expected in one_error_line(capsys)
