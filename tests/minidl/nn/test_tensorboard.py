"""TensorBoardListener: the event files it writes are read back and checked against a softmax
regression computed by hand (score, gradient, SGD update, learning rate, test accuracy)."""

import numpy as np
import pytest

pytest.importorskip("tensorboardX")

from minidl import (Activation, DataSet, ListDataSetIterator, LossFunction, MultiLayerNetwork,
                    NeuralNetConfiguration, OutputLayer, Sgd, TensorBoardListener, WeightInit)
from tests.minidl.nn.tensorboard_events import read_events

LR = 0.1


def softmax_regression():
    conf = (NeuralNetConfiguration.Builder().seed(3).updater(Sgd(LR)).list()
            .layer(OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=3, n_out=2,
                               activation=Activation.SOFTMAX, weight_init=WeightInit.XAVIER))
            .build())
    return MultiLayerNetwork(conf).init()


def by_hand(w, b, x, y):
    """Score, dL/dW and dL/db of softmax + negative log-likelihood, averaged over the batch."""
    z = x @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    score = -np.mean(np.sum(y * np.log(p), 1))
    return score, x.T @ (p - y) / len(x), np.mean(p - y, 0)


def test_scalars_and_histograms_are_the_hand_computed_values(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    net = softmax_regression()
    w0, b0 = (net.param_table()[k].astype(np.float64) for k in ("0_W", "0_b"))
    test = ListDataSetIterator([DataSet(x, y)], 8)
    with TensorBoardListener(tmp_path / "tb", histogram_frequency=2, test_data=test) as listener:
        net.set_listeners(listener)
        net.fit(ListDataSetIterator([DataSet(x, y)], 8), 3)
    scalars, histograms = read_events(tmp_path / "tb")

    score, gw, gb = by_hand(w0, b0, x, y)
    assert [s for s, _ in scalars["score"]] == [0, 1, 2]
    assert scalars["score"][0][1] == pytest.approx(score, rel=1e-5)
    assert scalars["norms/0_W/gradient"][0][1] == pytest.approx(np.linalg.norm(gw), rel=1e-5)
    assert scalars["norms/0_b/gradient"][0][1] == pytest.approx(np.linalg.norm(gb), rel=1e-5)
    # SGD: update = lr * gradient, and the parameter after it
    assert scalars["norms/0_W/update"][0][1] == pytest.approx(LR * np.linalg.norm(gw), rel=1e-4)
    assert scalars["norms/0_W/parameter"][0][1] == pytest.approx(
        np.linalg.norm(w0 - LR * gw), rel=1e-5)
    assert [v for _, v in scalars["learning_rate"]] == pytest.approx([LR] * 3)
    # histograms at iterations 0 and 2 only
    assert [s for s, _ in histograms["params/0_W"]] == [0, 2]
    assert [s for s, _ in histograms["gradients/0_b"]] == [0, 2]
    assert histograms["params/0_W"][0][1].num == 6
    # one evaluation per epoch, at the iteration count after it: the accuracy of the network
    w, b = (net.param_table()[k] for k in ("0_W", "0_b"))
    accuracy = np.mean(np.argmax(x @ w + b, 1) == np.argmax(y, 1))
    assert [s for s, _ in scalars["test/accuracy"]] == [1, 2, 3]
    assert scalars["test/accuracy"][-1][1] == pytest.approx(accuracy)


def test_frequency_thins_the_scalars(tmp_path):
    x = np.ones((4, 3), np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    net = softmax_regression()
    with TensorBoardListener(tmp_path, frequency=2) as listener:
        net.set_listeners(listener)
        net.fit(DataSet(x, y), 5)
    scalars, histograms = read_events(tmp_path)
    assert [s for s, _ in scalars["score"]] == [0, 2, 4] and not histograms
    assert "test/accuracy" not in scalars


def test_importing_minidl_does_not_import_tensorboardx():
    import subprocess
    import sys
    code = "import sys, minidl; print('tensorboardX' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
