"""ImageNetLabels against DL4J's ImageNetLabels / BaseLabels (read for the facts only).

The shipped names are checked at indices known from the ImageNet synset list (the order Keras'
imagenet_class_index.json and torchvision share). The decode texts use a small list of names;
the expected texts are written out by hand from DL4J's format: ``"Predictions for batch " +
(i when several) + " :"``, then ``"\\n\\t" + String.format("%3f", p * 100) + "%, " + label`` with p
a float, so the percentage is computed in float32.
"""

import json

import numpy as np
import pytest

import zoo.labels
from zoo import ClassPrediction, ImageNetLabels

NAMES = ["tench", "goldfish", "great_white_shark", "tiger_shark", "hammerhead", "electric_ray",
         "stingray"]


@pytest.fixture
def seven_names():
    """A seven-class ImageNetLabels (the decode tests' probabilities have 7 columns)."""
    return NAMES


def test_the_shipped_names_need_no_network(monkeypatch):
    import minidl.io
    monkeypatch.setattr(minidl.io, "download", lambda *a, **k: pytest.fail("downloaded"))
    labels = ImageNetLabels()
    assert len(labels.labels) == 1000 and len(set(labels.labels)) == 1000
    # well-known indices of the ImageNet synset order
    for index, name in [(0, "tench"), (1, "goldfish"), (207, "golden retriever"),
                        (281, "tabby"), (340, "zebra"), (999, "toilet tissue")]:
        assert labels.getLabel(index) == name


def test_the_names_file_is_package_data():
    """pyproject ships zoo/data/*.txt: without it an installed package has no names."""
    import tomllib
    from pathlib import Path
    root = Path(zoo.__file__).resolve().parents[1]
    package_data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "data/*.txt" in package_data["zoo"]
    assert (root / "zoo" / "data" / zoo.labels.CLASS_NAMES_FILE).is_file()


def test_a_keras_class_index_file_is_read_in_index_order(tmp_path):
    path = tmp_path / "imagenet_class_index.json"
    path.write_text(json.dumps({str(i): [f"n0{i:07d}", name]
                                for i, name in reversed(list(enumerate(NAMES)))}))
    labels = ImageNetLabels(zoo.labels.read_class_index(path))
    assert labels.labels == NAMES and labels.get_label(6) == "stingray"


def test_label_index_out_of_range():
    labels = ImageNetLabels(NAMES)
    for n in (7, -1):
        with pytest.raises(IndexError, match=f"no class {n}; classes are 0 to 6"):
            labels.get_label(n)


def test_decode_predictions_text_of_one_example_is_dl4j_format(seven_names):
    p = np.array([[0.03125, 0.5, 0.0, 0.0625, 0.25, 0.0, 0.125]], dtype=np.float32)
    assert ImageNetLabels(seven_names).decodePredictions(p) == (
        "Predictions for batch  :"  # no number for a single example, as in DL4J
        "\n\t50.000000%, goldfish"
        "\n\t25.000000%, hammerhead"
        "\n\t12.500000%, stingray"
        "\n\t6.250000%, tiger_shark"
        "\n\t3.125000%, tench")


def test_decode_predictions_percent_is_computed_in_float32(seven_names):
    # 0.6f * 100f rounds to the float 60.0000038...: DL4J prints 60.000004 (float64: 60.000002)
    p = np.array([0.6, 0.4, 0, 0, 0, 0, 0], dtype=np.float32)
    lines = ImageNetLabels(seven_names).decode_predictions(p).splitlines()
    assert lines[1] == "\t60.000004%, tench"


def test_decode_predictions_text_lists_every_example(seven_names):
    p = np.array([[0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    lines = ImageNetLabels(seven_names).decode_predictions(p).split("\n")
    assert lines[0] == "Predictions for batch 0 :" and lines[6] == "Predictions for batch 1 :"
    assert lines[1:6] == ["\t50.000000%, tench", "\t25.000000%, goldfish",
                          "\t12.500000%, great_white_shark", "\t6.250000%, tiger_shark",
                          "\t3.125000%, hammerhead"]  # the tie at 3.125% keeps class order
    assert lines[7] == "\t100.000000%, stingray" and lines[8] == "\t0.000000%, tench"
    assert len(lines) == 12


def test_decode_predictions_with_n_gives_class_predictions(seven_names):
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]], dtype=np.float32)
    first, second = ImageNetLabels(seven_names).decode_predictions(p, 2)
    assert first == [ClassPrediction(3, "tiger_shark", float(np.float32(0.4))),
                     ClassPrediction(2, "great_white_shark", float(np.float32(0.3)))]
    assert [c.getNumber() for c in second] == [5, 6]
    assert second[0].getLabel() == "electric_ray" and second[0].getProbability() == 0.5
    assert str(second[1]) == "ClassPrediction(number=6,label=stingray,probability=0.5)"


def test_decode_predictions_refuses_another_number_of_classes(seven_names):
    with pytest.raises(ValueError, match=r"expected \[batch, 7\] class probabilities, got shape "
                                         r"\(2, 1000\)"):
        ImageNetLabels(seven_names).decode_predictions(np.zeros((2, 1000), np.float32))


def test_a_file_that_is_not_a_class_index_is_named(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"0": ["n0", "tench"], "2": ["n2", "shark"]}))
    with pytest.raises(ValueError, match="labels.json: not a class index"):
        zoo.labels.read_class_index(path)
