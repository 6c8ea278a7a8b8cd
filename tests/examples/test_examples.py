"""Each DL4J example end to end in --small mode: generated pictures, the small stand-in VGG,
no network. Asserts on results: frozen parameters unchanged, accuracy above chance (5 classes),
files written, what --quiet still prints. Then the command line: each --help states the
defaults the run uses and lists only the options the script uses; user mistakes are one line
on stderr and exit status 1."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl.backend import to_cpu

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHANCE = 1 / 5
SMALL_TRAIN_BATCHES = 10  # 160 generated training pictures in batches of 16
# (learning rate, epochs) of each DL4J example that trains: the scripts' DL4J_* constants
DL4J_DEFAULTS = {"edit_last_layer_others_frozen": (5e-5, 1),
                 "edit_at_bottleneck_others_frozen": (5e-5, 1),
                 "fine_tune_from_block_four": (1e-5, 1),
                 "fit_from_featurized": (3e-5, 3)}
ALL_EXAMPLES = [*DL4J_DEFAULTS, "featurized_pre_save"]


def example(name, monkeypatch):
    """The example script ``name`` as a module (examples/ is not a package)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module(name)


def small_epochs(name, monkeypatch):
    """The epochs a --small run of ``name`` makes, by its own parser."""
    return example(name, monkeypatch).build_parser().parse_args(["--small"]).epochs


def quiet_output(capsys, name, monkeypatch):
    """What a --quiet run printed: only its outcome, checked to be the final accuracy line."""
    lines = capsys.readouterr().out.splitlines()
    iterations = small_epochs(name, monkeypatch) * SMALL_TRAIN_BATCHES
    assert re.fullmatch(rf"Model build complete: test accuracy [01]\.\d{{4}} after "
                        rf"{iterations} iterations", lines[0]), lines
    return lines[1:]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    # one cache for the module (and test_demo.py): the small source model is trained once
    return tmp_path_factory.getbasetemp() / "demo-home"


@pytest.fixture
def run(device, home, tmp_path, monkeypatch):
    """Runs an example's main in --small mode on each device (``device`` sets the default)."""
    monkeypatch.setenv("MINIDL_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def run_example(name, *argv):
        module = importlib.import_module(name)
        return module.main(["--small", "--quiet", *argv])
    return run_example


def frozen_params_unchanged(original, model):
    """Every frozen layer of ``model`` holds exactly the parameters ``original`` had."""
    frozen = [key for key, layer in model.layer_items() if layer.frozen]
    assert frozen, "expected frozen layers"
    for key in frozen:
        for name, tensor in model.param_tables[key].items():
            np.testing.assert_array_equal(to_cpu(tensor.data),
                                          to_cpu(original.param_tables[key][name].data))
    return frozen


def test_edit_last_layer_others_frozen(run, capsys, monkeypatch):
    from transfer.demo import FAST, pretrained_source_model
    result = run("edit_last_layer_others_frozen")
    assert quiet_output(capsys, "edit_last_layer_others_frozen", monkeypatch) == []
    source, cached = pretrained_source_model(12345, FAST)
    assert cached
    frozen = frozen_params_unchanged(source, result["model"])
    assert "fc2" in frozen and "predictions" not in frozen
    assert result["model"].layer_size("predictions") == 5
    assert result["after"].accuracy() > CHANCE + 0.2
    assert result["after"].accuracy() > result["before"].accuracy()


def test_bottleneck_then_fine_tune_from_block_four(run, tmp_path, capsys, monkeypatch):
    result = run("edit_at_bottleneck_others_frozen", "--model", "bottleneck.zip")
    assert quiet_output(capsys, "edit_at_bottleneck_others_frozen", monkeypatch) == [
        "Model saved to bottleneck.zip"]
    model = result["model"]
    frozen = frozen_params_unchanged(result["original"], model)
    assert "block5_pool" in frozen and "fc1" not in frozen
    assert model.output_names == ["newpredictions"] and model.layer_size("fc2") == 32
    assert (tmp_path / "bottleneck.zip").is_file()
    assert result["after"].accuracy() > CHANCE + 0.2

    tuned = run("fine_tune_from_block_four", "--model", "bottleneck.zip", "--output", "tuned.zip")
    assert quiet_output(capsys, "fine_tune_from_block_four", monkeypatch) == [
        "Model saved to tuned.zip"]
    assert (tmp_path / "tuned.zip").is_file()
    layers = dict(tuned["model"].layer_items())
    assert layers["block4_conv1"].frozen and not layers["block5_conv1"].frozen
    frozen_params_unchanged(tuned["original"], tuned["model"])
    before = tuned["original"].param_tables["block5_conv1"]["W"].data
    assert not np.array_equal(tuned["model"].param_tables["block5_conv1"]["W"].data, before)
    assert tuned["after"].accuracy() > CHANCE + 0.2


def test_fine_tune_without_saved_model_is_a_clear_error(run):
    with pytest.raises(FileNotFoundError, match="edit_at_bottleneck_others_frozen.py first"):
        run("fine_tune_from_block_four", "--model", "missing.zip")


def test_featurized_pre_save_then_fit_from_featurized(run, tmp_path, capsys, monkeypatch):
    manifests = run("featurized_pre_save", "--features", "feats")
    feats = os.path.join("feats", "")
    assert capsys.readouterr().out.splitlines() == [
        f"train: 160 examples featurized at fc2 into 10 shards in {feats}train",
        f"test: 40 examples featurized at fc2 into 3 shards in {feats}test"]
    assert manifests["train"]["num_examples"] == 160 and manifests["test"]["num_examples"] == 40
    assert manifests["train"]["feature_shapes"] == [[64]]  # fc2 of the small VGG
    assert len(list((tmp_path / "feats" / "train").glob("shard-*.npz"))) == 10

    result = run("fit_from_featurized", "--features", "feats")
    assert quiet_output(capsys, "fit_from_featurized", monkeypatch) == []
    frozen_params_unchanged(result["original"], result["model"])
    assert result["after"].accuracy() > CHANCE + 0.2
    # fit_featurized writes the head back into the full network: both predict the same
    head = result["helper"].unfrozen_graph().param_tables["predictions"]["W"].data
    np.testing.assert_array_equal(to_cpu(result["model"].param_tables["predictions"]["W"].data),
                                  to_cpu(head))


# -- the command line ------------------------------------------------------------------------

def help_text(name, monkeypatch, capsys):
    """``name --help``, with argparse's line wrapping undone."""
    with pytest.raises(SystemExit) as exit_info:
        example(name, monkeypatch).main(["--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def stated_defaults(help_text, option, metavar, text):
    """(DL4J default, --small default) as the help of ``option`` states them."""
    found = re.search(rf"{option} {metavar} {text} "
                      rf"\(default (\S+) as DL4J; (\S+) with --small\)", help_text)
    assert found, f"no defaults for {option} in: {help_text}"
    return found.groups()


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_help_lists_the_shared_options(name, monkeypatch, capsys):
    text = help_text(name, monkeypatch, capsys)
    assert "--small" in text and "--data" in text and "--quiet" in text
    assert ("--weights" in text) == (name != "fine_tune_from_block_four")  # it restores a model


@pytest.mark.parametrize("name", DL4J_DEFAULTS)
def test_help_states_the_defaults_the_run_uses(name, monkeypatch, capsys):
    text = help_text(name, monkeypatch, capsys)
    module = example(name, monkeypatch)
    dl4j = module.build_parser().parse_args([])  # what main runs
    small = module.build_parser().parse_args(["--small"])
    learning_rate, epochs = DL4J_DEFAULTS[name]
    assert (module.DL4J_LEARNING_RATE, module.DL4J_EPOCHS) == (learning_rate, epochs)

    stated_epochs = stated_defaults(text, "--epochs", "EPOCHS", "passes over the training data")
    assert tuple(map(int, stated_epochs)) == (epochs, small.epochs) and dl4j.epochs == epochs
    stated_rate = stated_defaults(text, "--learning-rate", "LEARNING_RATE", "learning rate")
    assert tuple(map(float, stated_rate)) == (learning_rate, small.learning_rate)
    assert dl4j.learning_rate == learning_rate


def test_help_has_only_the_options_a_script_uses(monkeypatch, capsys):
    presave = help_text("featurized_pre_save", monkeypatch, capsys)
    assert "--epochs" not in presave and "--learning-rate" not in presave  # it trains nothing
    assert "default flowers-fc2" in presave
    fine_tune = help_text("fine_tune_from_block_four", monkeypatch, capsys)
    assert "--weights" not in fine_tune
    assert "(default MyComputationGraph.zip)" in fine_tune
    assert "(default MyComputationGraphFineTune.zip)" in fine_tune


def one_line_error(capsys, exit_info):
    """The error line ``_common.run`` printed; checks exit status 1 and nothing else printed."""
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1 and ": error: " in lines[0], captured.err
    return lines[0]


def test_data_with_the_wrong_number_of_classes_fails_before_loading_a_model(tmp_path, monkeypatch,
                                                                            capsys):
    for label in ("roses", "tulips"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.png").write_bytes(b"")  # the check counts folders, reads no image
    module = example("edit_last_layer_others_frozen", monkeypatch)
    monkeypatch.setattr(module, "load_vgg16", lambda args: pytest.fail("loaded a model"))
    with pytest.raises(SystemExit) as exit_info:
        example("_common", monkeypatch).run(module.main, ["--small", "--data", str(tmp_path)])
    line = one_line_error(capsys, exit_info)
    assert "NUM_CLASSES=5 class folders" in line and "found 2 (roses, tulips)" in line


def test_features_of_another_class_count_are_refused(monkeypatch):
    module = example("fit_from_featurized", monkeypatch)

    class Features:
        directory, manifest = "feats/train", {"label_shapes": [[2]]}
    with pytest.raises(ValueError, match="the features have 2 classes.*NUM_CLASSES=5"):
        module.check_feature_classes(Features())


def user_errors():
    from minidl.backend import DeviceError
    from minidl.io import DownloadError
    from zoo.formats import WeightFileError
    return [DownloadError("could not download x: offline"), WeightFileError("fake.h5: not HDF5"),
            FileNotFoundError("no such folder"), KeyError("no layer fc9"), DeviceError("no GPU")]


@pytest.mark.parametrize("error", user_errors(), ids=lambda e: type(e).__name__)
def test_run_reports_user_errors_in_one_line(error, monkeypatch, capsys):
    def failing_main(argv):
        raise error
    with pytest.raises(SystemExit) as exit_info:
        example("_common", monkeypatch).run(failing_main, [])
    line = one_line_error(capsys, exit_info)
    assert line.endswith(f": error: {error.args[0]}")  # a KeyError's message without quotes


def test_run_keeps_the_traceback_of_a_bug(monkeypatch):
    def buggy_main(argv):
        raise TypeError("a bug")
    with pytest.raises(TypeError):
        example("_common", monkeypatch).run(buggy_main, [])


def test_missing_data_folder_as_a_program(tmp_path):
    # this checkout's minidl, not an installed copy
    env = {**os.environ, "MINIDL_HOME": str(tmp_path / "home"), "PYTHONPATH": str(EXAMPLES.parent)}
    done = subprocess.run([sys.executable, str(EXAMPLES / "edit_last_layer_others_frozen.py"),
                           "--small", "--data", str(tmp_path / "no-such-dir")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"edit_last_layer_others_frozen.py: error: data folder {tmp_path / 'no-such-dir'} "
        f"does not exist"]


@pytest.mark.parametrize("script, argv, expected", [
    ("fit_from_featurized", ["--epochs", "0"], "expected a number above 0, got 0"),
    ("edit_last_layer_others_frozen", ["--train-percent", "100"],
     "expected a percentage from 1 to 99, got 100"),
    ("edit_at_bottleneck_others_frozen", ["--dropout", "1.5"],
     "expected a probability in (0, 1], got 1.5"),
    ("edit_last_layer_others_frozen", ["--small", "--weights", "w.h5"],
     "--weights has no effect with --small"),
])
def test_bad_numbers_and_options_are_usage_errors(script, argv, expected, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


MODEL_EXAMPLES = ["edit_last_layer_others_frozen", "featurized_pre_save", "fit_from_featurized"]


@pytest.mark.parametrize("name", MODEL_EXAMPLES)
@pytest.mark.parametrize("model, vertex", [("vgg16", "fc2"), ("resnet50", "avg_pool"),
                                           ("mobilenetv2", "global_average_pooling2d")])
def test_model_option_picks_the_zoo_model_and_its_feature_vertex(name, model, vertex,
                                                                  monkeypatch):
    import zoo
    common = example("_common", monkeypatch)
    args = example(name, monkeypatch).build_parser().parse_args(["--model", model])
    assert common.feature_layer(args) == vertex
    # the zoo model's own pooling vertex (VGG has none: fc2, as DL4J)
    assert vertex == getattr(zoo.MODELS[model](), "pooling_vertex", "fc2")
    monkeypatch.setattr(zoo.MODELS[model], "init_pretrained",
                        lambda self, kind, weights=None: (model, weights))
    assert common.load_vgg16(args) == (model, None)


def test_model_option_is_refused_with_small_and_absent_where_it_does_not_fit(monkeypatch,
                                                                             capsys):
    module = example("edit_last_layer_others_frozen", monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        module.build_parser().parse_args(["--small", "--model", "resnet50"])
    assert exit_info.value.code == 2
    assert "--model has no effect with --small" in capsys.readouterr().err
    # the bottleneck example rebuilds VGG16's fc layers: it keeps to VGG16
    bottleneck = example("edit_at_bottleneck_others_frozen", monkeypatch)
    assert not bottleneck.build_parser().zoo_models


def test_a_new_output_on_a_global_pooling_reads_its_channels(monkeypatch):
    """At ResNet50's or MobileNetV2's global average pooling (a layer without n_out of its own)
    the new output layer's n_in is the pooled size: the channels."""
    from minidl import (Activation, ComputationGraph, ConvolutionLayer, DenseLayer,
                        GlobalPoolingLayer, InputType, Nesterovs, NeuralNetConfiguration,
                        PoolingType)
    conf = (NeuralNetConfiguration.Builder().seed(1).graph_builder().add_inputs("input_1")
            .add_layer("conv", ConvolutionLayer(kernel_size=(3, 3), n_out=6), "input_1")
            .add_layer("avg_pool", GlobalPoolingLayer(PoolingType.AVG), "conv")
            .add_layer("predictions", DenseLayer(n_out=10, activation=Activation.SOFTMAX),
                       "avg_pool")
            .set_outputs("predictions").set_input_types(InputType.convolutional(8, 8, 3))
            .build())
    module = example("edit_last_layer_others_frozen", monkeypatch)
    net = module.build_transfer_model(ComputationGraph(conf).init(), 5, 1, Nesterovs(0.01),
                                      "avg_pool")
    assert net.get_layer("predictions").n_in == 6 and net.get_layer("predictions").n_out == 5
    assert net.get_layer("conv").frozen and not net.get_layer("predictions").frozen
