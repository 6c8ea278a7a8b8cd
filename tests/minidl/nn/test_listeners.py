"""Listeners: called once per iteration with the right score, and around epochs."""

import numpy as np

from minidl import (Activation, CollectScoresListener, DataSet, ListDataSetIterator,
                    MultiLayerNetwork, NeuralNetConfiguration, OutputLayer, PerformanceListener,
                    ScoreIterationListener, Sgd, TrainingListener)


def _net():
    conf = (NeuralNetConfiguration.Builder().seed(0).updater(Sgd(0.1)).list()
            .layer(OutputLayer(n_in=3, n_out=2, activation=Activation.SOFTMAX)).build())
    return MultiLayerNetwork(conf).init()


def _data(n=12):
    rng = np.random.default_rng(0)
    return DataSet(rng.normal(size=(n, 3)).astype(np.float32),
                   np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)])


def test_score_iteration_listener_reports_every_n(device):
    lines = []
    listener = ScoreIterationListener(2, printer=lines.append)
    net = _net()
    net.set_listeners(listener)
    scores = [net.fit(_data()) for _ in range(5)]
    assert [i for i, _ in listener.scores] == [0, 2, 4]
    assert [s for _, s in listener.scores] == [scores[0], scores[2], scores[4]]
    assert lines[1] == f"Score at iteration 2 is {scores[2]:.6f}"


def test_collect_scores_and_performance_listener(device):
    collect = CollectScoresListener()
    lines = []
    perf = PerformanceListener(frequency=2, printer=lines.append)
    net = _net()
    net.setListeners(collect, perf)  # DL4J spelling, several listeners
    net.fit(ListDataSetIterator(_data(), batch_size=4), epochs=2)
    assert [i for i, _ in collect.scores] == list(range(6))
    assert all(type(score) is float for _, score in collect.scores)  # not a device scalar
    assert [i for i, _ in perf.history] == [2, 4]
    assert all(seconds > 0 for _, seconds in perf.history)
    assert lines[0].startswith("iteration 2; iteration time: ") and "score: " in lines[0]


def test_epoch_callbacks(device):
    events = []

    class Recorder(TrainingListener):
        def iteration_done(self, model, iteration, epoch):
            events.append(("it", iteration, epoch))

        def on_epoch_start(self, model):
            events.append(("start", model.epoch_count))

        def on_epoch_end(self, model):
            events.append(("end", model.epoch_count))

    net = _net()
    net.set_listeners([Recorder()])
    net.fit(ListDataSetIterator(_data(n=8), batch_size=4), epochs=2)
    assert events == [("start", 0), ("it", 0, 0), ("it", 1, 0), ("end", 0),
                      ("start", 1), ("it", 2, 1), ("it", 3, 1), ("end", 1)]
