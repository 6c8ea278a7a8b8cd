"""Each DL4J example end to end in --small mode: generated pictures, the small stand-in VGG,
no network. Asserts on results: frozen parameters unchanged, accuracy above chance (5 classes),
files written."""

import importlib
from pathlib import Path

import numpy as np
import pytest

from minidl.backend import to_cpu

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHANCE = 1 / 5


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


def test_edit_last_layer_others_frozen(run):
    from transfer.demo import FAST, pretrained_source_model
    result = run("edit_last_layer_others_frozen")
    source, cached = pretrained_source_model(12345, FAST)
    assert cached
    frozen = frozen_params_unchanged(source, result["model"])
    assert "fc2" in frozen and "predictions" not in frozen
    assert result["model"].layer_size("predictions") == 5
    assert result["after"].accuracy() > CHANCE + 0.2
    assert result["after"].accuracy() > result["before"].accuracy()


def test_bottleneck_then_fine_tune_from_block_four(run, tmp_path):
    result = run("edit_at_bottleneck_others_frozen", "--model", "bottleneck.zip")
    model = result["model"]
    frozen = frozen_params_unchanged(result["original"], model)
    assert "block5_pool" in frozen and "fc1" not in frozen
    assert model.output_names == ["newpredictions"] and model.layer_size("fc2") == 32
    assert (tmp_path / "bottleneck.zip").is_file()
    assert result["after"].accuracy() > CHANCE + 0.2

    tuned = run("fine_tune_from_block_four", "--model", "bottleneck.zip", "--output", "tuned.zip")
    assert (tmp_path / "tuned.zip").is_file()
    layers = dict(tuned["model"].layer_items())
    assert layers["block4_conv1"].frozen and not layers["block5_conv1"].frozen
    frozen_params_unchanged(tuned["original"], tuned["model"])
    before = tuned["original"].param_tables["block5_conv1"]["W"].data
    assert not np.array_equal(tuned["model"].param_tables["block5_conv1"]["W"].data, before)
    assert tuned["after"].accuracy() > CHANCE + 0.2


def test_fine_tune_without_saved_model_is_a_clear_usage_error(run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run("fine_tune_from_block_four", "--model", "missing.zip")
    assert exit_info.value.code == 2
    assert "edit_at_bottleneck_others_frozen.py first" in capsys.readouterr().err


def test_featurized_pre_save_then_fit_from_featurized(run, tmp_path):
    manifests = run("featurized_pre_save", "--features", "feats")
    assert manifests["train"]["num_examples"] == 160 and manifests["test"]["num_examples"] == 40
    assert manifests["train"]["feature_shapes"] == [[64]]  # fc2 of the small VGG
    assert len(list((tmp_path / "feats" / "train").glob("shard-*.npz"))) == 10

    result = run("fit_from_featurized", "--features", "feats")
    frozen_params_unchanged(result["original"], result["model"])
    assert result["after"].accuracy() > CHANCE + 0.2
    # fit_featurized writes the head back into the full network: both predict the same
    head = result["helper"].unfrozen_graph().param_tables["predictions"]["W"].data
    np.testing.assert_array_equal(to_cpu(result["model"].param_tables["predictions"]["W"].data),
                                  to_cpu(head))


@pytest.mark.parametrize("name", ["edit_last_layer_others_frozen", "edit_at_bottleneck_others_frozen",
                                  "fine_tune_from_block_four", "featurized_pre_save",
                                  "fit_from_featurized"])
def test_help(name, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--small" in out and "--data" in out and "--weights" in out
