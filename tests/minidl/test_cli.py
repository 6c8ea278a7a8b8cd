"""The minidl command: --help everywhere, exit codes, one-line errors, and real runs on small
generated files (no network)."""

import numpy as np
import pytest

from minidl import cli
from tests.minidl.cli.cli_checks import one_error_line

SUBCOMMANDS = [["demo"], ["zoo"], ["zoo", "list"], ["zoo", "download"], ["zoo", "convert"],
               ["zoo", "info"], ["summary"], ["featurize"], ["fit-featurized"], ["evaluate"]]


@pytest.mark.parametrize("words", [[]] + SUBCOMMANDS, ids=lambda w: " ".join(w) or "minidl")
def test_help(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(words + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: minidl" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expected", [
    (["nonsense"], "invalid choice"),
    (["zoo", "explode"], "invalid choice"),
    (["demo", "--seed", "abc"], "invalid int value"),
    (["featurize", "vgg16"], "required"),
])
def test_bad_arguments_exit_2_with_one_line(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith("minidl") and expected in line


@pytest.mark.parametrize("argv, expected", [
    (["summary", "resnet9000"], "unknown model 'resnet9000'"),
    (["summary", "missing.zip"], "model file 'missing.zip' does not exist"),
    (["zoo", "info", "nothing.h5"], "weight file 'nothing.h5' does not exist"),
    (["zoo", "convert", "nothing.pth"], "weight file 'nothing.pth' does not exist"),
    (["zoo", "download", "lenet"], "no pretrained weights"),
    (["evaluate", "lenet", "--data", "no-such-folder"], "data folder 'no-such-folder' does not exist"),
])
def test_user_mistakes_exit_1_with_one_line(argv, expected, capsys, minidl_home, monkeypatch,
                                            tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 1
    assert expected in one_error_line(capsys)


def test_device_option_selects_the_device_and_a_missing_gpu_is_one_line(capsys, monkeypatch):
    from minidl import backend

    def no_cupy():
        raise backend.DeviceError("the GPU was asked for but CuPy is not installed")
    monkeypatch.setattr(backend, "_load_cupy", no_cupy)
    assert cli.main(["--device", "gpu", "zoo", "list"]) == 1
    assert "CuPy is not installed" in one_error_line(capsys)
    monkeypatch.setattr(backend, "_device", None)  # restored by monkeypatch after the test
    assert cli.main(["--device", "cpu", "zoo", "list"]) == 0
    assert backend.get_device() == "cpu"


def test_corrupt_weight_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert cli.main(["zoo", "info", str(bad)]) == 1
    assert str(bad) in one_error_line(capsys)


def test_zoo_list_names_every_model(capsys, minidl_home):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in cli.ZOO_MODELS:
        assert name in out


def test_zoo_convert_and_info_on_a_small_pth(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # torchvision layout: features.0 conv 3->4, (ReLU 1), features.2 conv 4->4, classifier 16->6->3
    state = {"features.0.weight": rng.standard_normal((4, 3, 3, 3)),
             "features.0.bias": rng.standard_normal(4),
             "features.2.weight": rng.standard_normal((4, 4, 3, 3)),
             "features.2.bias": rng.standard_normal(4),
             "classifier.0.weight": rng.standard_normal((6, 16)),
             "classifier.0.bias": rng.standard_normal(6),
             "classifier.3.weight": rng.standard_normal((3, 6)),
             "classifier.3.bias": rng.standard_normal(3)}
    source = tmp_path / "tiny.pth"
    torch.save({k: torch.tensor(v, dtype=torch.float32) for k, v in state.items()}, source)
    out = tmp_path / "tiny.npz"
    assert cli.main(["zoo", "convert", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    from zoo import load_weights
    weights, metadata = load_weights(out)
    # torchvision Linear weight [out, in] becomes DL4J's [n_in, n_out]
    np.testing.assert_array_equal(weights["fc1_W"], state["classifier.0.weight"].T.astype(np.float32))
    np.testing.assert_array_equal(weights["block1_conv2_W"], state["features.2.weight"].astype(np.float32))
    assert metadata["channel_order"] == "RGB"
    assert cli.main(["zoo", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "RGB" in info and f"{sum(v.size for v in state.values()):,} parameters" in info


@pytest.fixture
def small_model(tmp_path_factory, monkeypatch):
    """The demo's small source model (cached in the shared test home) and its pictures."""
    from minidl import ModelSerializer
    from transfer.demo import FAST, SOURCE_SHAPES, pretrained_source_model, write_image_folder
    monkeypatch.setenv("MINIDL_HOME", str(tmp_path_factory.getbasetemp() / "demo-home"))
    net, _ = pretrained_source_model(12345, FAST)
    folder = tmp_path_factory.mktemp("cli")
    ModelSerializer.write_model(net, folder / "source.zip")
    write_image_folder(folder / "images", SOURCE_SHAPES[:4], 10, seed=99)
    return folder


def test_summary_evaluate_featurize_fit_featurized(small_model, capsys):
    d = small_model
    assert cli.main(["summary", str(d / "source.zip")]) == 0
    assert "block5_pool" in capsys.readouterr().out

    assert cli.main(["--quiet", "featurize", str(d / "source.zip"), "--layer", "fc2",
                     "--data", str(d / "images"), "--out", str(d / "feats"),
                     "--preprocess", "scale"]) == 0
    out = capsys.readouterr().out
    assert "train: 32 examples" in out and "test: 8 examples" in out

    assert cli.main(["--quiet", "fit-featurized", str(d / "source.zip"), str(d / "feats"),
                     "-o", str(d / "head.zip"), "--learning-rate", "0.01", "--epochs", "10"]) == 0
    assert "Accuracy" in capsys.readouterr().out and (d / "head.zip").is_file()

    assert cli.main(["evaluate", str(d / "head.zip"), "--data", str(d / "images"),
                     "--preprocess", "scale"]) == 0
    stats = capsys.readouterr().out
    accuracy = float(stats.split("Accuracy:")[1].split()[0])
    assert accuracy > 0.5  # 4 classes: chance is 0.25
    # head.zip remembers the features' preprocessing: --preprocess auto (the default) uses it
    assert cli.main(["evaluate", str(d / "head.zip"), "--data", str(d / "images")]) == 0
    assert capsys.readouterr().out == stats

    # features made by another model's frozen part are refused, in one line
    assert cli.main(["fit-featurized", "simplecnn", str(d / "feats"), "-o", str(d / "x.zip"),
                     "--layer", "2"]) == 1
    one_error_line(capsys)


def test_featurize_layer_of_a_multilayer_network_is_an_index(small_model, capsys):
    d = small_model
    argv = ["featurize", "lenet", "--data", str(d / "images"), "--out", str(d / "lenet")]
    assert cli.main(argv) == 1
    assert "no frozen layers: pass --layer" in one_error_line(capsys)
    assert cli.main(argv + ["--layer", "fc2"]) == 1
    assert "--layer takes a layer index" in one_error_line(capsys)
    assert cli.main(argv + ["--layer", "1", "--quiet"]) == 0  # --quiet after the command too
    out = capsys.readouterr()
    assert "train: 32 examples" in out.out and out.err == ""  # quiet: no progress bars


def test_featurize_below_the_saved_frozen_part_is_refused(small_model, capsys):
    d = small_model
    assert cli.main(["--quiet", "featurize", str(d / "source.zip"), "--layer", "fc2",
                     "--data", str(d / "images"), "--out", str(d / "feats")]) == 0
    assert cli.main(["--quiet", "fit-featurized", str(d / "source.zip"), str(d / "feats"),
                     "-o", str(d / "head.zip"), "--epochs", "1"]) == 0
    capsys.readouterr()
    # head.zip is frozen up to fc2: features at block3_pool would need block 4 and 5 thawed
    assert cli.main(["featurize", str(d / "head.zip"), "--layer", "block3_pool",
                     "--data", str(d / "images"), "--out", str(d / "b3")]) == 1
    assert "already frozen up to fc2, above --layer block3_pool" in one_error_line(capsys)
    # the same folder again, for another frozen part: the CLI's option is named
    assert cli.main(["--quiet", "featurize", str(d / "source.zip"), "--layer", "block5_pool",
                     "--data", str(d / "images"), "--out", str(d / "feats")]) == 1
    assert "pass --overwrite" in one_error_line(capsys)


def test_images_that_cannot_be_read_are_an_error_and_warnings_are_one_line(small_model, tmp_path,
                                                                           capsys):
    for shape in ("circle", "square"):
        bad = tmp_path / "bad" / shape
        bad.mkdir(parents=True)
        for name in ("a.jpg", "b.png", "c.png", "d.jpg", "e.png"):
            (bad / name).write_bytes(b"not an image")
    assert cli.main(["featurize", str(small_model / "source.zip"), "--layer", "fc2", "--data",
                     str(tmp_path / "bad"), "--out", str(tmp_path / "f"), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("minidl featurize: ") for line in lines), lines
    assert [line for line in lines if ": warning: " in line and "skipping" in line]
    assert lines[-1].endswith("of the train part of " + repr(str(tmp_path / "bad"))
                              + " could be read (8 files skipped)")


def test_arguments_are_checked_before_a_model_is_loaded(monkeypatch, tmp_path, capsys):
    import zoo

    def no_download(*args, **kwargs):
        raise AssertionError("the model was loaded (downloaded) before the arguments were checked")
    monkeypatch.setattr(zoo.VGG16, "init_pretrained", no_download)
    for command in (["featurize", "vgg16", "--out", str(tmp_path / "f")], ["evaluate", "vgg16"]):
        assert cli.main(command + ["--data", str(tmp_path / "missing")]) == 1
        assert "does not exist" in one_error_line(capsys)
    assert cli.main(["fit-featurized", "vgg16", str(tmp_path / "nothing"), "-o", "x.zip"]) == 1
    assert "write them with 'minidl featurize" in one_error_line(capsys)


def test_a_plot_path_that_cannot_be_written_fails_before_the_demo(monkeypatch, tmp_path, capsys):
    from transfer import demo
    monkeypatch.setattr(demo, "run_demo", lambda **kwargs: pytest.fail("the demo ran"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["demo", "--plot", str(blocker / "curves.png")]) == 1
    assert "cannot create the folder" in one_error_line(capsys)


def test_a_bad_device_setting_fails_first_in_one_line(monkeypatch, capsys):
    from minidl import backend
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("MINIDL_DEVICE", "banana")
    assert cli.main(["zoo", "list"]) == 1
    assert "minidl zoo list: error: unknown device 'banana'" in one_error_line(capsys)


def test_train_percent_must_be_a_percentage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["featurize", "lenet", "--data", ".", "--out", "f", "--train-percent", "150"])
    assert exit_info.value.code == 2
    assert "expected a percentage from 1 to 99, got 150" in one_error_line(capsys)


def test_weights_without_a_top_ask_for_no_top(monkeypatch, tmp_path, capsys):
    import zoo
    asked = []

    def init_pretrained(self, *args, include_top=True, **kwargs):
        asked.append(include_top)
        if include_top:
            raise zoo.MissingTopError("notop.npz: these weights have no top")
        raise RuntimeError("loaded without the top")  # far enough: the option got through
    monkeypatch.setattr(zoo.VGG16, "init_pretrained", init_pretrained)
    argv = ["evaluate", "vgg16", "--weights", "notop.npz", "--data", str(tmp_path)]
    assert cli.main(argv) == 1
    assert "notop.npz has no top (fc1, fc2, predictions): pass --no-top" in one_error_line(capsys)
    with pytest.raises(RuntimeError, match="loaded without the top"):
        cli.main(argv + ["--no-top"])
    assert asked == [True, False]


def test_features_of_other_images_are_not_reused(small_model, tmp_path, capsys):
    from transfer.demo import SOURCE_SHAPES, write_image_folder
    d = small_model
    argv = ["featurize", str(d / "source.zip"), "--layer", "fc2", "--out", str(d / "feats"),
            "--quiet"]
    assert cli.main(argv + ["--data", str(d / "images")]) == 0
    out = capsys.readouterr().out
    assert "preprocessing: VGG16ImagePreProcessor" in out  # auto, for colour images
    assert "train: 32 examples, 64 features" in out
    write_image_folder(tmp_path / "other", SOURCE_SHAPES[4:8], 10, seed=5)
    assert cli.main(argv + ["--data", str(tmp_path / "other")]) == 1
    assert "made by other data" in one_error_line(capsys)
    assert cli.main(argv + ["--data", str(d / "images"), "--seed", "7"]) == 1  # another split
    assert "pass --overwrite" in one_error_line(capsys)


@pytest.mark.parametrize("argv, expected", [
    (["fit-featurized", "lenet", "feats", "-o", "out.zip", "--epochs", "0"], "above 0, got 0"),
    (["fit-featurized", "lenet", "feats", "-o", "out.zip", "--learning-rate", "nan"],
     "above 0, got nan"),
    (["evaluate", "lenet", "--data", ".", "--batch-size", "-3"], "above 0, got -3"),
])
def test_numbers_must_be_positive(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and expected in one_error_line(capsys)


def test_paths_of_the_wrong_kind_fail_before_any_work(small_model, tmp_path, capsys):
    d = small_model
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    featurize = ["featurize", str(d / "source.zip"), "--layer", "fc2"]
    cases = [
        (featurize + ["--data", str(a_file), "--out", "f"], "is a file: expected a folder with"),
        (featurize + ["--data", str(d / "images"), "--out", str(a_file)], "is a file"),
        (featurize + ["--data", str(d / "images"), "--out", str(d / "images" / "f")],
         "is inside --data"),
        (["fit-featurized", str(d / "source.zip"), str(d / "feats"), "-o", str(tmp_path)],
         "is a folder: expected a file name"),
    ]
    assert cli.main(featurize + ["--data", str(d / "images"), "--out", str(d / "feats"),
                                 "--quiet"]) == 0
    capsys.readouterr()
    for argv, expected in cases:
        assert cli.main(argv) == 1, argv
        assert expected in one_error_line(capsys)


def test_a_multilayer_network_gets_a_new_head_from_its_features(small_model, capsys):
    d = small_model
    assert cli.main(["featurize", "lenet", "--layer", "99", "--data", str(d / "images"),
                     "--out", str(d / "f")]) == 1
    assert "--layer takes a layer index 0..4 (below the output layer), got '99'" in \
        one_error_line(capsys)
    assert cli.main(["--quiet", "featurize", "lenet", "--layer", "3", "--data",
                     str(d / "images"), "--out", str(d / "f")]) == 0
    assert cli.main(["--quiet", "fit-featurized", "lenet", str(d / "f"), "--layer", "3",
                     "-o", str(d / "lenet.zip"), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Evaluation of the test part (8 examples):" in out
    assert cli.main(["summary", str(d / "lenet.zip")]) == 0
    summary = capsys.readouterr().out
    assert "FrozenLayer<SubsamplingLayer>" in summary and "500,4" in summary  # 4 classes


def test_class_folders_must_match_the_model_and_balancing_is_reported(small_model, tmp_path,
                                                                      capsys):
    from transfer.demo import SOURCE_SHAPES, write_image_folder
    d = small_model
    assert cli.main(["evaluate", str(d / "source.zip"), "--data", str(d / "images")]) == 1
    assert "the model has 10 outputs but" in one_error_line(capsys)  # 4 class folders
    write_image_folder(tmp_path / "uneven", SOURCE_SHAPES[:2], 10, seed=3)
    for extra in sorted((tmp_path / "uneven" / SOURCE_SHAPES[0]).iterdir())[:4]:
        extra.unlink()  # 6 and 10 images
    assert cli.main(["--quiet", "featurize", str(d / "source.zip"), "--layer", "fc2", "--data",
                     str(tmp_path / "uneven"), "--out", str(tmp_path / "f")]) == 0
    assert "note: 12 of 16 images used" in capsys.readouterr().out
    write_image_folder(tmp_path / "one", SOURCE_SHAPES[:1], 4, seed=3)
    assert cli.main(["featurize", str(d / "source.zip"), "--layer", "fc2", "--data",
                     str(tmp_path / "one"), "--out", str(tmp_path / "g")]) == 1
    assert "has 1 class folder(s): training needs at least 2" in one_error_line(capsys)


def test_an_interrupted_featurize_says_how_to_resume(small_model, monkeypatch, capsys):
    import transfer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(transfer, "featurize_to_disk", interrupted)
    d = small_model
    assert cli.main(["featurize", str(d / "source.zip"), "--layer", "fc2", "--data",
                     str(d / "images"), "--out", str(d / "f")]) == 130
    assert one_error_line(capsys) == \
        "minidl featurize: interrupted: run the same command again to resume"


def test_an_unknown_layer_of_a_pretrained_zoo_model_fails_before_the_download(monkeypatch,
                                                                              tmp_path, capsys):
    import zoo
    monkeypatch.setattr(zoo.VGG16, "init_pretrained",
                        lambda *a, **k: pytest.fail("weights loaded before --layer was checked"))
    (tmp_path / "images").mkdir()
    assert cli.main(["featurize", "vgg16", "--no-top", "--layer", "fc2", "--data",
                     str(tmp_path / "images"), "--out", str(tmp_path / "f")]) == 1
    line = one_error_line(capsys)
    assert "vgg16 --no-top has no vertex 'fc2'; vertices: input_1, block1_conv1" in line
    assert "block5_pool" in line and "fc1" not in line


def test_the_test_part_keeps_the_train_parts_classes(small_model, tmp_path, capsys):
    """With 3 images a class, the 80/20 split leaves classes out of the test part: its labels
    must still be one-hot over all four classes, in the train part's order."""
    import json
    from transfer.demo import SOURCE_SHAPES, write_image_folder
    write_image_folder(tmp_path / "few", SOURCE_SHAPES[:4], 3, seed=3)
    assert cli.main(["--quiet", "featurize", str(small_model / "source.zip"), "--layer", "fc2",
                     "--data", str(tmp_path / "few"), "--out", str(tmp_path / "f")]) == 0
    for part in ("train", "test"):
        manifest = json.loads((tmp_path / "f" / part / "manifest.json").read_text())
        assert manifest["label_shapes"] == [[4]]
        assert manifest["label_names"] == sorted(SOURCE_SHAPES[:4])


@pytest.mark.parametrize("module", ["minidl", "minidl.cli"])
def test_python_dash_m_runs_the_command(module):
    """``python -m minidl`` (and ``-m minidl.cli``) is the ``minidl`` console script."""
    import subprocess
    import sys
    from pathlib import Path

    import minidl
    root = Path(minidl.__file__).resolve().parents[1]  # this checkout, not an installed copy
    done = subprocess.run([sys.executable, "-m", module, "--version"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"minidl {minidl.__version__}"
    bad = subprocess.run([sys.executable, "-m", module, "nonsense"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_the_command_knows_every_zoo_model():
    """The names the CLI lists without importing zoo are zoo.MODELS' names."""
    import zoo
    from minidl.cli.models import ZOO_MODELS
    assert sorted(ZOO_MODELS) == sorted(zoo.MODELS)
