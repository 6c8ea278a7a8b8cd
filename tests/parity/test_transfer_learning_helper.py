"""DL4J's TransferLearningHelperTest, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TransferLearningHelperTest.java),
with the same assertions.

Ported, all three: tesUnfrozenSubset (DL4J's spelling), testFitUnFrozen, testMLN.

DL4J makes its "identical" model by cloning and calling setLayerAsFrozen() on three vertices;
minidl freezes through the configuration, so the identical model here is
``GraphBuilder(model).set_feature_extractor("denseCentre2").build()`` without a fine-tune
configuration, which copies every parameter (asserted below). Parameters are compared bit for
bit: the unfrozen part runs the same float32 operations in both networks. The tests that train
run on each backend (``device``), comparing on the host.
"""

import numpy as np
import pytest

from devices import devices_of, host
from dl4j_nets import graph, graph_conf, hstack_params, layer_params, mln, rand
from minidl import (Activation, DataSet, DenseLayer, LossFunction, MergeVertex, MultiDataSet,
                    OptimizationAlgorithm, OutputLayer, Sgd, SubsetVertex)
from minidl import serde
from transfer import TransferLearning, TransferLearningHelper

SGD_ALGO = OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT


def _mse(n_in, n_out):
    return OutputLayer(loss=LossFunction.MSE, n_in=n_in, n_out=n_out)


def _dense(n_in, n_out):
    return DenseLayer(n_in=n_in, n_out=n_out)


def _helper_graph_vertices():
    return [
        ("denseCentre0", _dense(10, 9), ["inCentre"]),
        ("denseCentre1", _dense(9, 8), ["denseCentre0"]),
        ("denseCentre2", _dense(8, 7), ["denseCentre1"]),
        ("denseCentre3", _dense(7, 7), ["denseCentre2"]),
        ("outCentre", _mse(7, 4), ["denseCentre3"]),
        ("subsetLeft", SubsetVertex(0, 3), ["denseCentre1"]),
        ("denseLeft0", _dense(4, 5), ["subsetLeft"]),
        ("outLeft", _mse(5, 6), ["denseLeft0"]),
        ("denseRight", _dense(7, 7), ["denseCentre2"]),
        ("denseRight0", _dense(2, 3), ["inRight"]),
        ("mergeRight", MergeVertex(), ["denseRight", "denseRight0"]),
        ("denseRight1", _dense(10, 5), ["mergeRight"]),
        ("outRight", _mse(5, 5), ["denseRight1"]),
    ]


OUTPUTS = ["outLeft", "outCentre", "outRight"]


def _helper_graph(updater):
    return graph(["inCentre", "inRight"], _helper_graph_vertices(), OUTPUTS, seed=124,
                 activation=Activation.IDENTITY, optimization_algo=SGD_ALGO, updater=updater)


def test_unfrozen_subset():
    model = _helper_graph(Sgd(0.1))
    helper = TransferLearningHelper(model, "denseCentre2")
    frozen = {"denseCentre0", "denseCentre1", "denseCentre2"}
    expected = graph_conf(
        ["denseCentre1", "denseCentre2", "inRight"],  # sorted, where DL4J's follow a HashSet
        [v for v in _helper_graph_vertices() if v[0] not in frozen], OUTPUTS, seed=124,
        activation=Activation.IDENTITY, optimization_algo=SGD_ALGO, updater=Sgd(0.1))
    assert helper.unfrozen_graph().conf.to_json() == expected.to_json()


@pytest.fixture
def helper_data():
    rng = np.random.default_rng(124)
    in_right, in_centre = rand(rng, 10, 2), rand(rng, 10, 10)
    out_left, out_right, out_centre = rand(rng, 10, 6), rand(rng, 10, 5), rand(rng, 10, 4)
    return MultiDataSet([in_centre, in_right], [out_left, out_centre, out_right])


def test_fit_unfrozen(helper_data, device):
    model = _helper_graph(Sgd(0.9))
    identical = TransferLearning.GraphBuilder(model).set_feature_extractor("denseCentre2").build()
    np.testing.assert_array_equal(host(identical.params()), host(model.params()))
    assert [identical.get_layer(f"denseCentre{i}").frozen for i in range(4)] == \
        [True, True, True, False]

    helper = TransferLearningHelper(model, "denseCentre2")
    featurized = helper.featurize(helper_data)
    np.testing.assert_array_equal(layer_params(identical, "denseRight0"),
                                  layer_params(model, "denseRight0"))

    identical.fit(helper_data)
    helper.fit_featurized(featurized)
    assert devices_of(identical) == devices_of(helper.unfrozen_graph()) == {device}
    for name in ("denseCentre0", "denseCentre1", "denseCentre2", "denseCentre3", "outCentre",
                 "denseRight", "denseRight0", "denseRight1", "outRight", "denseLeft0", "outLeft"):
        np.testing.assert_array_equal(layer_params(identical, name), layer_params(model, name),
                                      err_msg=name)
    unfrozen = helper.unfrozen_graph()
    for name in ("denseRight", "denseRight0"):
        assert serde.to_json(unfrozen.conf.vertices[name]) == \
            serde.to_json(identical.conf.vertices[name])
    assert "FrozenLayer" in identical.summary() and "FrozenLayer" in model.summary()


def test_mln(device):
    rng = np.random.default_rng(12345)
    ds = DataSet(rand(rng, 10, 4), rand(rng, 10, 3))
    settings = dict(updater=Sgd(0.1), optimization_algo=SGD_ALGO, activation=Activation.IDENTITY)
    model = mln([_dense(4, 3), _dense(3, 2), _dense(2, 3),
                 OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=3,
                             n_out=3)], **settings)
    model_now = TransferLearning.Builder(model).set_feature_extractor(1).build()
    as_frozen = model.feed_forward_to_layer(2, ds.features)[2]
    helper = TransferLearningHelper(model, 1)
    not_frozen = mln([_dense(2, 3), OutputLayer(loss=LossFunction.MCXENT,
                                                activation=Activation.SOFTMAX, n_in=3, n_out=3)],
                     params=hstack_params(layer_params(model, 2), layer_params(model, 3)),
                     **settings)

    featurized = helper.featurize(ds)
    np.testing.assert_array_equal(host(featurized.features), host(as_frozen))
    np.testing.assert_array_equal(host(featurized.labels), ds.labels)
    for _ in range(5):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        helper.fit_featurized(helper.featurize(ds))
        model_now.fit(ds)
    expected = hstack_params(layer_params(model, 0), layer_params(model, 1), not_frozen.params())
    assert devices_of(model_now) == devices_of(model) == {device}
    np.testing.assert_array_equal(host(model_now.params()), expected)
    np.testing.assert_array_equal(host(model.params()), expected)  # copied back after every fit
