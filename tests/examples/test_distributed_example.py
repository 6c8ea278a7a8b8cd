"""examples/distributed_fit_from_featurized.py in --small mode on a local cluster of 2 worker
processes: features written by the workers equal the single-process ones, the head trains
above chance, frozen layers are untouched and the trained head reaches the full network."""

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from minidl.backend import to_cpu

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHANCE = 1 / 5


def test_distributed_fit_from_featurized(tmp_path_factory, tmp_path, monkeypatch, capsys):
    # the cache test_examples.py uses: the small source model is trained once per session
    monkeypatch.setenv("MINIDL_HOME", str(tmp_path_factory.getbasetemp() / "demo-home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    example = importlib.import_module("distributed_fit_from_featurized")
    result = example.main(["--small", "--quiet", "--workers", "2", "--features", "feats"])
    lines = capsys.readouterr().out.splitlines()
    # 160 training pictures = 10 minibatches of 16 = 1 round of 2 workers x 5, per epoch
    assert len(lines) == 1 and re.fullmatch(
        r"Model build complete: test accuracy [01]\.\d{4} after 25 iterations", lines[0])
    assert result["after"].accuracy() > CHANCE + 0.2
    model, original = result["model"], result["original"]
    for key, layer in model.layer_items():
        if layer.frozen:
            for name, tensor in model.param_tables[key].items():
                np.testing.assert_array_equal(to_cpu(tensor.data),
                                              to_cpu(original.param_tables[key][name].data))
    head = result["helper"].unfrozen_graph().param_tables["predictions"]["W"].data
    np.testing.assert_array_equal(to_cpu(model.param_tables["predictions"]["W"].data),
                                  to_cpu(head))
    _features_equal_single_process(example, result, tmp_path)


def _features_equal_single_process(example, result, tmp_path):
    from _common import flower_iterators
    from transfer import FeaturizedDataSetIterator, featurize_to_disk
    args = example.build_parser().parse_args(["--small", "--quiet"])
    train, _ = flower_iterators(args, result["original"])
    single = featurize_to_disk(result["helper"], train, tmp_path / "single", progress=False)
    cluster = FeaturizedDataSetIterator(result["folders"]["train"])
    assert cluster.manifest == single
    for a, b in zip(cluster, FeaturizedDataSetIterator(tmp_path / "single")):
        np.testing.assert_allclose(a.features, b.features, rtol=1e-5,
                                   atol=1e-6 * np.abs(b.features).max())
