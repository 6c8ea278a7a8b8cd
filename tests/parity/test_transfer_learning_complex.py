"""DL4J's TransferLearningComplex, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TransferLearningComplex.java),
with the same assertions.

Ported, all four of the current suite: testMergeAndFreeze, testSimplerMergeBackProp,
testLessSimpleMergeBackProp, testAddOutput.

testMergeAndFreeze's D is Dense(15->5) in DL4J although B and C give it 8 + 6 = 14 inputs (DL4J
never runs that network); minidl checks sizes when building, so D is Dense(14->5) here.

DL4J freezes ``modelToTune`` in place with setLayerAsFrozen(); here the same network is built
with denseCentre0 wrapped in FrozenLayer and given the original's parameters. Left out: the 2017
testWithMergeAndSubset, which is no longer in DL4J's suite (the helper test covers its graph).

The tests that train run on each backend (``device``), comparing on the host.
"""

import numpy as np

from devices import devices_of, host
from dl4j_nets import graph, layer_params, rand
from minidl import (Activation, Adam, DenseLayer, FrozenLayer, LossFunction, MergeVertex,
                    MultiDataSet, OptimizationAlgorithm, OutputLayer, Sgd)
from transfer import FineTuneConfiguration, TransferLearning

SETTINGS = dict(updater=Sgd(0.9), activation=Activation.IDENTITY,
                optimization_algo=OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)


def _mse(n_in, n_out):
    return OutputLayer(loss=LossFunction.MSE, n_in=n_in, n_out=n_out)


def test_merge_and_freeze():
    orig = graph(["in1", "in2"], [
        ("A", DenseLayer(n_in=10, n_out=9), ["in1"]),
        ("B", DenseLayer(n_in=9, n_out=8), ["A"]),
        ("C", DenseLayer(n_in=7, n_out=6), ["in2"]),
        ("D", DenseLayer(n_in=14, n_out=5), ["B", "C"]),  # DL4J: 15, never checked there
        ("out", OutputLayer(n_in=5, n_out=4, activation=Activation.LEAKYRELU), ["D"])],
        ["out"], updater=Adam(1e-4), activation=Activation.LEAKYRELU,
        validate_output_layer_config=False)  # as DL4J's: LEAKYRELU + the default MCXENT
    net = (TransferLearning.GraphBuilder(orig)
           .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Adam(2e-2)).build())
           .set_feature_extractor("C")
           .validate_output_layer_config(False)
           .build())
    frozen = {name: layer.frozen for name, layer in net.layer_items()}
    assert frozen == {"A": False, "B": False, "C": True, "D": False, "out": False}
    for name, layer in net.layer_items():
        inner = layer.layer if layer.frozen else layer
        assert inner.updater == Adam(2e-2), name  # the frozen C's inner configuration too
        assert inner.activation is Activation.LEAKYRELU, name


def _frozen_copy(vertices, params_from, frozen_name, inputs, outputs):
    """DL4J's setLayerAsFrozen(): the same graph with one layer frozen, same parameters."""
    wrapped = [(n, FrozenLayer(v) if n == frozen_name else v, i) for n, v, i in vertices]
    net = graph(inputs, wrapped, outputs, **SETTINGS)
    net.set_params(params_from.params())
    return net


def test_simpler_merge_back_prop(device):
    vertices = lambda: [("denseCentre0", DenseLayer(n_in=2, n_out=2), ["inCentre"]),
                        ("denseRight0", DenseLayer(n_in=2, n_out=2), ["inRight"]),
                        ("mergeRight", MergeVertex(), ["denseCentre0", "denseRight0"]),
                        ("outRight", _mse(4, 2), ["mergeRight"])]
    inputs = ["inCentre", "inRight"]
    orig = graph(inputs, vertices(), ["outRight"], **SETTINGS)
    rng = np.random.default_rng(12345)
    data = MultiDataSet([rand(rng, 2, 2), rand(rng, 2, 2)], [rand(rng, 2, 2)])
    frozen_features = orig.feed_forward(*data.features)["denseCentre0"]
    other_data = MultiDataSet([frozen_features, data.features[1]], data.labels)

    model_other = graph(["denseCentre0", "inRight"], vertices()[1:], ["outRight"], **SETTINGS)
    for name in ("denseRight0", "outRight"):
        for p in ("W", "b"):
            model_other.set_param(f"{name}_{p}", orig.get_param(f"{name}_{p}"))
    model_to_tune = _frozen_copy(vertices(), orig, "denseCentre0", inputs, ["outRight"])
    model_now = TransferLearning.GraphBuilder(model_to_tune) \
        .set_feature_extractor("denseCentre0").build()
    assert devices_of(model_other) == devices_of(model_now) == {device}

    for n in range(5):
        if n == 0:
            expected = model_other.feed_forward(*other_data.features)["mergeRight"]
            for net in (model_to_tune, model_now):
                np.testing.assert_array_equal(
                    host(net.feed_forward(*data.features)["mergeRight"]), host(expected))
        model_other.fit(other_data)
        model_to_tune.fit(data)
        model_now.fit(data)
        for net in (model_now, model_to_tune):
            np.testing.assert_array_equal(
                host(net.feed_forward(*data.features)["denseCentre0"]), host(frozen_features))
        for name in ("denseRight0", "outRight"):
            np.testing.assert_array_equal(layer_params(model_other, name),
                                          layer_params(model_to_tune, name))
            np.testing.assert_array_equal(layer_params(model_other, name),
                                          layer_params(model_now, name))


def test_less_simple_merge_back_prop(device):
    vertices = lambda: [("denseCentre0", DenseLayer(n_in=2, n_out=2), ["inCentre"]),
                        ("outCentre", _mse(2, 2), ["denseCentre0"]),
                        ("denseRight0", DenseLayer(n_in=3, n_out=2), ["inRight"]),
                        ("mergeRight", MergeVertex(), ["denseCentre0", "denseRight0"]),
                        ("outRight", _mse(4, 2), ["mergeRight"])]
    inputs, outputs = ["inCentre", "inRight"], ["outCentre", "outRight"]
    orig = graph(inputs, vertices(), outputs, **SETTINGS)
    rng = np.random.default_rng(12345)
    data = MultiDataSet([rand(rng, 2, 2), rand(rng, 2, 3)], [rand(rng, 2, 2), rand(rng, 2, 2)])
    frozen_features = orig.feed_forward(*data.features)["denseCentre0"]

    model_to_tune = _frozen_copy(vertices(), orig, "denseCentre0", inputs, outputs)
    model_now = TransferLearning.GraphBuilder(model_to_tune) \
        .set_feature_extractor("denseCentre0").build()
    assert isinstance(model_now.get_layer("denseCentre0"), FrozenLayer)

    for _ in range(5):
        model_to_tune.fit(data)
        model_now.fit(data)
        for net in (model_now, model_to_tune):
            np.testing.assert_array_equal(
                host(net.feed_forward(*data.features)["denseCentre0"]), host(frozen_features))
        for name in ("denseRight0", "outRight", "outCentre"):
            np.testing.assert_array_equal(layer_params(model_to_tune, name),
                                          layer_params(model_now, name), err_msg=name)
    assert not np.array_equal(layer_params(model_now, "outCentre"), layer_params(orig, "outCentre"))


def test_add_output(device):
    orig = graph(["inCentre", "inRight"], [
        ("denseCentre0", DenseLayer(n_in=2, n_out=2), ["inCentre"]),
        ("denseRight0", DenseLayer(n_in=2, n_out=2), ["inRight"]),
        ("mergeRight", MergeVertex(), ["denseCentre0", "denseRight0"]),
        ("outRight", _mse(4, 2), ["mergeRight"])], ["outRight"], **SETTINGS)
    net = (TransferLearning.GraphBuilder(orig)
           .add_layer("outCentre", _mse(2, 3), "denseCentre0")
           .set_outputs("outRight", "outCentre")
           .build())
    assert len(net.output_names) == 2
    rng = np.random.default_rng(12345)
    data = MultiDataSet([rand(rng, 2, 2), rand(rng, 2, 2)], [rand(rng, 2, 2), rand(rng, 2, 3)])
    before = layer_params(net, "outCentre")
    net.fit(data)
    assert not np.array_equal(layer_params(net, "outCentre"), before)
    assert [o.shape for o in net.output(*data.features)] == [(2, 2), (2, 3)]
    assert devices_of(net) == {device}
    assert "outCentre" in net.summary()
