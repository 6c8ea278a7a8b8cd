"""``featurize --workers N``: the same features as one process, featurized by a local Dask
cluster whose workers read the images themselves; and the cluster options' checks."""

import json

import numpy as np
import pytest

from minidl import cli
from tests.minidl.cli.cli_checks import usage_error

pytest.importorskip("dask.distributed")


def _shards(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    arrays = []
    for shard in manifest["shards"]:
        with np.load(folder / shard["file"]) as data:
            arrays.append((data["features_0"], data["labels_0"]))
    return manifest, arrays


def test_featurize_on_two_workers_equals_one_process(files, notop_features, tmp_path):
    out = tmp_path / "cluster-features"
    assert cli.main(["--quiet", "featurize", str(files / "notop.zip"), "--layer", "block5_pool",
                     "--data", str(files / "images"), "--out", str(out),
                     "--preprocess", "scale", "--workers", "2"]) == 0
    for part in ("train", "test"):
        (here, here_arrays), (there, there_arrays) = (_shards(notop_features / part),
                                                      _shards(out / part))
        assert there["fingerprint"] == here["fingerprint"]
        assert [s["examples"] for s in there["shards"]] == [s["examples"] for s in here["shards"]]
        for (f1, l1), (f2, l2) in zip(here_arrays, there_arrays):
            np.testing.assert_array_equal(l2, l1)
            # one BLAS thread per worker against two here: the sums' order differs
            np.testing.assert_allclose(f2, f1, rtol=1e-5, atol=1e-5 * np.abs(f1).max())


def test_workers_and_scheduler_do_not_go_together(files, tmp_path, capsys):
    line = usage_error(["featurize", str(files / "notop.zip"), "--data", str(files / "images"),
                        "--out", str(tmp_path / "f"), "--workers", "2", "--scheduler",
                        "tcp://127.0.0.1:8786"], capsys)
    assert "--scheduler" in line and "not allowed with" in line


def test_workers_must_be_positive(files, tmp_path, capsys):
    line = usage_error(["transfer", str(files / "notop.zip"), "--data", str(files / "images"),
                        "-o", str(tmp_path / "m.zip"), "--workers", "0"], capsys)
    assert "--workers" in line
