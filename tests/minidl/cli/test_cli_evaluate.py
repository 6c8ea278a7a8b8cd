"""evaluate --json against a hand computation from the model's outputs on every image."""

import json

import numpy as np
import pytest

from minidl import ImagePreProcessingScaler, ModelSerializer, NativeImageLoader, cli


def hand_metrics(files, model):
    """Accuracy, macro precision/recall/F1 and confusion from argmax of the model's outputs
    (a class never predicted is left out of the precision average, as in DL4J)."""
    net = ModelSerializer.restore_computation_graph(model)
    loader, scaler = NativeImageLoader(32, 32, 3), ImagePreProcessingScaler()
    classes = sorted(p.name for p in (files / "images").iterdir())
    confusion = np.zeros((len(classes), len(classes)), int)
    for actual, name in enumerate(classes):
        for path in sorted((files / "images" / name).iterdir()):
            out = net.output_single(scaler.transform(loader.as_matrix(str(path))))
            confusion[actual, int(np.argmax(out))] += 1
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = [tp[k] / predicted[k] for k in range(len(classes)) if predicted[k]]
    recall = [tp[k] / actual[k] for k in range(len(classes)) if actual[k]]
    f1 = [2 * p * r / (p + r) if p + r else 0.0
          for p, r in ((tp[k] / predicted[k], tp[k] / actual[k])
                       for k in range(len(classes)) if predicted[k] and actual[k])]
    return {"examples": int(confusion.sum()), "accuracy": tp.sum() / confusion.sum(),
            "precision": np.mean(precision), "recall": np.mean(recall), "f1": np.mean(f1),
            "labels": classes, "confusion": confusion.tolist()}


def test_evaluate_json_is_the_hand_computation(files, trained, capsys):
    assert cli.main(["--quiet", "evaluate", str(trained), "--data", str(files / "images"),
                     "--json"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)  # stdout is the JSON only
    assert "preprocessing: ImagePreProcessingScaler" in captured.err
    expected = hand_metrics(files, trained)
    assert record["labels"] == expected["labels"]
    assert record["confusion"] == expected["confusion"]
    assert record["examples"] == 40
    for key in ("accuracy", "precision", "recall", "f1"):
        assert record[key] == pytest.approx(expected[key], abs=1e-12), key
