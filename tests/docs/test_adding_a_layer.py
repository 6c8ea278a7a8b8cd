"""The "Adding a layer" example of docs/how-it-works.md runs as written and computes what a hand
computation says: Cropping2D(cropping=(1, 0, 1, 1)) on the 4x4 image 0..15 keeps rows 1..3 and
columns 1..2, and the gradient of the sum is 1 on those pixels, 0 on the cut ones."""

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "how-it-works.md").read_text(encoding="utf-8")


def _section(title):
    """The text of the Markdown section ``title`` (up to the next heading)."""
    start = GUIDE.index(title)
    following = re.search(r"^#{2,3} ", GUIDE[start + len(title):], re.M)
    return GUIDE[start:start + len(title) + following.start()] if following else GUIDE[start:]


SECTION = _section("### Adding a layer")
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
(EXAMPLE,) = PYTHON_BLOCK.findall(SECTION)  # the new layer's file, then code that uses it
(INDEX_LINE,) = re.findall(r"```\n(.*?)\n```", PYTHON_BLOCK.sub("", SECTION), re.S)


def test_the_example_prints_the_hand_cropping(capsys):
    scope = {}
    exec(compile(EXAMPLE, "how-it-works.md[Adding a layer]", "exec"), scope)
    # By hand, on the image [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]: cut
    # one row at the top, none at the bottom, one column on each side.
    kept = np.array([[5.0, 6.0], [9.0, 10.0], [13.0, 14.0]])
    grad = np.zeros((4, 4))
    grad[1:, 1:3] = 1.0  # d sum(y) / dx: 1 on the kept pixels, 0 on the cut ones
    assert capsys.readouterr().out == f"InputTypeConvolutional(h=3,w=2,c=1)\n{kept}\n{grad}\n"
    np.testing.assert_array_equal(scope["y"].numpy()[0, 0], kept)
    np.testing.assert_array_equal(scope["x"].grad[0, 0], grad)


def test_the_builder_and_the_constructor_agree():
    scope = {}
    exec(compile(EXAMPLE, "how-it-works.md[Adding a layer]", "exec"), scope)
    cropping_2d = scope["Cropping2D"]
    assert scope["crop"] == cropping_2d(cropping=(1, 0, 1, 1))
    assert scope["crop"].cropping == (1, 0, 1, 1)


def test_the_index_line_imports_the_class_from_the_file_the_example_names():
    module = re.match(r"# minidl/nn/layers/(\w+)\.py\n", EXAMPLE).group(1)
    (cls,) = re.findall(r"^class (\w+)\(", EXAMPLE, re.M)
    assert INDEX_LINE == f"from minidl.nn.layers.{module} import {cls}"
