"""ImageNetLabels against DL4J's ImageNetLabels / BaseLabels (read for the facts only).

A small class index in the Keras format is served by a local HTTP server (tests/conftest.py);
the expected texts are written out by hand from DL4J's format: ``"Predictions for batch " +
(i when several) + " :"``, then ``"\\n\\t" + String.format("%3f", p * 100) + "%, " + label`` with p
a float, so the percentage is computed in float32.
"""

import hashlib
import json
import socket

import numpy as np
import pytest

import zoo.labels
from minidl.io import DownloadError
from zoo import ClassPrediction, ImageNetLabels

NAMES = ["tench", "goldfish", "great_white_shark", "tiger_shark", "hammerhead", "electric_ray",
         "stingray"]
CLASS_INDEX = json.dumps({str(i): [f"n0{i:07d}", name] for i, name in enumerate(NAMES)}).encode()


@pytest.fixture
def served_index(local_http, minidl_home, monkeypatch):
    monkeypatch.setattr(zoo.labels, "CLASS_INDEX_URL", local_http.add("/imagenet_class_index.json",
                                                                      CLASS_INDEX))
    monkeypatch.setattr(zoo.labels, "CLASS_INDEX_MD5", hashlib.md5(CLASS_INDEX).hexdigest())
    return local_http


def test_class_index_is_downloaded_once_and_cached(served_index, minidl_home):
    labels = ImageNetLabels()
    assert labels.labels == NAMES
    assert labels.getLabel(2) == "great_white_shark" and labels.get_label(6) == "stingray"
    cached = minidl_home / "datasets" / "imagenet" / "imagenet_class_index.json"
    assert cached.read_bytes() == CLASS_INDEX
    assert ImageNetLabels().labels == NAMES
    assert len(served_index.log) == 1  # the second one read the cache


def test_label_index_out_of_range(served_index):
    labels = ImageNetLabels()
    for n in (7, -1):
        with pytest.raises(IndexError, match=f"no class {n}; classes are 0 to 6"):
            labels.get_label(n)


def test_a_corrupt_cached_index_is_downloaded_again(served_index, minidl_home):
    cached = minidl_home / "datasets" / "imagenet" / "imagenet_class_index.json"
    cached.parent.mkdir(parents=True)
    cached.write_text('{"0": ["n0", "truncated')
    assert ImageNetLabels().labels == NAMES
    assert len(served_index.log) == 1


def test_offline_names_the_url_the_place_and_the_md5(minidl_home, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/imagenet_class_index.json"
    monkeypatch.setattr(zoo.labels, "CLASS_INDEX_URL", url)
    with pytest.raises(DownloadError) as info:
        ImageNetLabels()
    message = str(info.value)
    assert url in message and "md5 c2c37ea517e94d9795004a39431a14cb" in message
    assert str(minidl_home / "datasets" / "imagenet" / "imagenet_class_index.json") in message


def test_decode_predictions_text_of_one_example_is_dl4j_format(served_index):
    p = np.array([[0.03125, 0.5, 0.0, 0.0625, 0.25, 0.0, 0.125]], dtype=np.float32)
    assert ImageNetLabels().decodePredictions(p) == (
        "Predictions for batch  :"  # no number for a single example, as in DL4J
        "\n\t50.000000%, goldfish"
        "\n\t25.000000%, hammerhead"
        "\n\t12.500000%, stingray"
        "\n\t6.250000%, tiger_shark"
        "\n\t3.125000%, tench")


def test_decode_predictions_percent_is_computed_in_float32(served_index):
    # 0.6f * 100f rounds to the float 60.0000038...: DL4J prints 60.000004 (float64: 60.000002)
    p = np.array([0.6, 0.4, 0, 0, 0, 0, 0], dtype=np.float32)
    assert ImageNetLabels().decode_predictions(p).splitlines()[1] == "\t60.000004%, tench"


def test_decode_predictions_text_lists_every_example(served_index):
    p = np.array([[0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    lines = ImageNetLabels().decode_predictions(p).split("\n")
    assert lines[0] == "Predictions for batch 0 :" and lines[6] == "Predictions for batch 1 :"
    assert lines[1:6] == ["\t50.000000%, tench", "\t25.000000%, goldfish",
                          "\t12.500000%, great_white_shark", "\t6.250000%, tiger_shark",
                          "\t3.125000%, hammerhead"]  # the tie at 3.125% keeps class order
    assert lines[7] == "\t100.000000%, stingray" and lines[8] == "\t0.000000%, tench"
    assert len(lines) == 12


def test_decode_predictions_with_n_gives_class_predictions(served_index):
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]], dtype=np.float32)
    first, second = ImageNetLabels().decode_predictions(p, 2)
    assert first == [ClassPrediction(3, "tiger_shark", float(np.float32(0.4))),
                     ClassPrediction(2, "great_white_shark", float(np.float32(0.3)))]
    assert [c.getNumber() for c in second] == [5, 6]
    assert second[0].getLabel() == "electric_ray" and second[0].getProbability() == 0.5
    assert str(second[1]) == "ClassPrediction(number=6,label=stingray,probability=0.5)"


def test_decode_predictions_refuses_another_number_of_classes(served_index):
    with pytest.raises(ValueError, match=r"expected \[batch, 7\] class probabilities, got shape "
                                         r"\(2, 1000\)"):
        ImageNetLabels().decode_predictions(np.zeros((2, 1000), np.float32))


def test_a_file_that_is_not_a_class_index_is_named(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"0": ["n0", "tench"], "2": ["n2", "shark"]}))
    with pytest.raises(ValueError, match="labels.json: not a class index"):
        zoo.labels.read_class_index(path)
