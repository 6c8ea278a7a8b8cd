"""The docs hold: every ```python block of docs/how-it-works.md and the DL4J-to-Python
translation in README.md run as written (on VGG16 with random weights: no download), and their
links to the project's files lead somewhere."""

import re
from pathlib import Path

import numpy as np
import pytest

from minidl import ComputationGraph, DataSet
from minidl.backend import to_cpu
from zoo import VGG16

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(name):
    """The ```python blocks of the Markdown file ``name`` (relative to the repository root)."""
    return re.findall(r"```python\n(.*?)```", (ROOT / name).read_text(encoding="utf-8"), re.S)


GUIDE = python_blocks("docs/how-it-works.md")


def test_the_guide_has_code_for_every_step():
    assert len(GUIDE) >= 6


@pytest.mark.parametrize("index", range(len(GUIDE)))
def test_guide_block_runs(index, capsys):
    exec(compile(GUIDE[index], f"how-it-works.md[block {index}]", "exec"), {})


def test_readme_translation_of_dl4j_runs(monkeypatch):
    """README's EditLastLayerOthersFrozen in Python: edits VGG16, featurizes, fits the head."""
    (block,) = python_blocks("README.md")
    # The ImageNet weights would be a 528 MiB download: VGG16's pretrained graph (Keras names,
    # `predictions` a softmax DenseLayer) with random weights has every name the code uses.
    monkeypatch.setattr(VGG16, "init_pretrained", lambda self, *args, **kwargs: ComputationGraph(
        self.pretrained_conf(1000, include_top=True)).init())
    rng = np.random.default_rng(0)
    batch = DataSet(rng.random((2, 3, 224, 224), dtype=np.float32),
                    np.eye(5, dtype=np.float32)[[0, 3]])
    scope = {"seed": 12345, "batch": batch}
    *edit_and_featurize, fit = block.strip().splitlines()
    assert fit == "helper.fit_featurized(featurized)"
    exec(compile("\n".join(edit_and_featurize), "README.md[python]", "exec"), scope)

    net, featurized = scope["vgg16_transfer"], scope["featurized"]
    assert featurized.features.shape == (2, 4096)  # fc2's output
    np.testing.assert_allclose(to_cpu(net.feed_forward(batch.features)["fc2"]),
                               to_cpu(featurized.features), rtol=1e-4, atol=1e-5)
    assert [k for k, layer in net.layer_items() if not layer.frozen] == ["predictions"]
    assert net.layer_size("predictions") == 5
    before = {k: to_cpu(v).copy() for k, v in net.param_table().items()}

    exec(compile(fit, "README.md[python]", "exec"), scope)
    after = {k: to_cpu(v) for k, v in net.param_table().items()}
    changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
    assert changed == ["predictions_W", "predictions_b"]  # the new head trained, nothing else


@pytest.mark.parametrize("name", ["README.md", "docs/how-it-works.md",
                                  "docs/differences-from-dl4j.md"])
def test_relative_links_point_to_files_in_the_repository(name):
    """A Markdown link to a file of the project names one that git keeps (not an ignored one,
    which a fresh clone lacks)."""
    import subprocess

    try:
        tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout.split())
    except (OSError, subprocess.CalledProcessError):
        tracked = set()
    if not tracked:
        pytest.skip("not a git checkout")
    text = (ROOT / name).read_text(encoding="utf-8")
    base = (ROOT / name).parent
    for target in re.findall(r"\]\(([^)#\s]+)\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (base / target).resolve().relative_to(ROOT).as_posix()
        assert path in tracked or any(t.startswith(path + "/") for t in tracked), \
            f"{name} links to {target}, which is not in the repository"
