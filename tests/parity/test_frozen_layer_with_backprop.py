"""DL4J's FrozenLayerWithBackpropTest, ported
(deeplearning4j-nn/src/test/java/.../nn/layers/FrozenLayerWithBackpropTest.java).

Ported, all six: testFrozenWithBackpropLayerInstantiation, testFrozenLayerInstantiationCompGraph,
testMultiLayerNetworkFrozenLayerParamsAfterBackprop,
testComputationGraphFrozenLayerParamsAfterBackprop, testFrozenLayerVsSgd,
testComputationGraphVsSgd.

A FrozenLayerWithBackprop keeps its parameters fixed but passes the gradient to the layers
below, so those train; with Sgd(0) on the same layers instead, training must give the same
parameters (bit for bit: the same float32 operations run in the same order, and an update of
0 * gradient leaves a parameter exactly as it was). Every test runs on each backend
(``device``), comparing on the host.
"""

import numpy as np

from devices import host
from dl4j_nets import (check_instantiation, check_instantiation_comp_graph, graph, layer_params,
                       mln, rand, snapshot)
from minidl import (Activation, DataSet, DenseLayer, FrozenLayerWithBackprop, LossFunction,
                    MergeVertex, OutputLayer, Sgd, WeightInit)

FITS = 100


def test_frozen_with_backprop_layer_instantiation(device):
    restored = check_instantiation(FrozenLayerWithBackprop)
    assert isinstance(restored.layers[0], FrozenLayerWithBackprop)


def test_frozen_layer_instantiation_comp_graph(device):
    check_instantiation_comp_graph(lambda layer: FrozenLayerWithBackprop.Builder().layer(layer).build())


def _data():
    rng = np.random.default_rng(12345)
    return DataSet(rand(rng, 100, 4), rand(rng, 100, 1))


def _mln_layers(wrap, **head):
    """[Dense(4->3), wrap(Dense(3->4)), wrap(Dense(4->2)), wrap(Out(MSE, tanh, 2->1))]."""
    return [DenseLayer(n_in=4, n_out=3),
            wrap(DenseLayer(n_in=3, n_out=4, **head)),
            wrap(DenseLayer(n_in=4, n_out=2, **head)),
            wrap(OutputLayer(loss=LossFunction.MSE, activation=Activation.TANH, n_in=2, n_out=1,
                             **head))]


MLN_SETTINGS = dict(seed=12345, weight_init=WeightInit.XAVIER, updater=Sgd(2))


def test_multi_layer_network_frozen_layer_params_after_backprop(device):
    ds = _data()
    net = mln(_mln_layers(FrozenLayerWithBackprop), **MLN_SETTINGS)
    before = snapshot(net)
    for _ in range(FITS):
        net.fit(ds)
    after = host(net.param_table())
    assert not np.array_equal(before["0_W"], after["0_W"])  # layer 0 trains through them
    assert not np.array_equal(before["0_b"], after["0_b"])
    for key in ("1_W", "1_b", "2_W", "2_b", "3_W", "3_b"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def _graph_vertices(wrap, **head):
    return [
        ("initial", DenseLayer(n_in=4, n_out=4), ["input"]),
        ("B1-0", DenseLayer(n_in=4, n_out=3), ["initial"]),
        ("B1-1", wrap(DenseLayer(n_in=3, n_out=4, **head)), ["B1-0"]),
        ("B1-2", wrap(DenseLayer(n_in=4, n_out=2, **head)), ["B1-1"]),
        ("B2-0", DenseLayer(n_in=4, n_out=4), ["initial"]),
        ("B2-1", DenseLayer(n_in=4, n_out=2), ["B2-0"]),
        ("B2-Output", DenseLayer(n_in=2, n_out=1), ["B2-1"]),
        ("merge", MergeVertex(), ["B1-2", "B2-Output"]),
        ("B1-Output", wrap(OutputLayer(loss=LossFunction.MSE, activation=Activation.TANH,
                                       n_in=3, n_out=1, **head)), ["merge"]),
    ]


GRAPH_SETTINGS = dict(seed=12345, updater=Sgd(2.0))


def test_computation_graph_frozen_layer_params_after_backprop(device):
    ds = _data()
    net = graph(["input"], _graph_vertices(FrozenLayerWithBackprop), ["B1-Output"],
                **GRAPH_SETTINGS)
    before = snapshot(net)
    for _ in range(FITS):
        net.fit(ds)
    after = host(net.param_table())
    assert not np.array_equal(before["B1-0_W"], after["B1-0_W"])
    for name in ("B1-1", "B1-2", "B1-Output"):
        for p in ("W", "b"):
            np.testing.assert_array_equal(after[f"{name}_{p}"], before[f"{name}_{p}"])


def _no_learning():
    return dict(updater=Sgd(0.0), bias_updater=Sgd(0.0))


def test_frozen_layer_vs_sgd(device):
    ds = _data()
    frozen = mln(_mln_layers(FrozenLayerWithBackprop), **MLN_SETTINGS)
    sgd = mln(_mln_layers(lambda l: l, **_no_learning()), **MLN_SETTINGS)
    np.testing.assert_array_equal(host(frozen.params()), host(sgd.params()))
    for _ in range(FITS):
        frozen.fit(ds)
        sgd.fit(ds)
    for i in range(4):
        np.testing.assert_array_equal(layer_params(frozen, i), layer_params(sgd, i),
                                      err_msg=f"layer {i}")


def test_computation_graph_vs_sgd(device):
    ds = _data()
    frozen = graph(["input"], _graph_vertices(FrozenLayerWithBackprop), ["B1-Output"],
                   **GRAPH_SETTINGS)
    sgd = graph(["input"], _graph_vertices(lambda l: l, **_no_learning()), ["B1-Output"],
                **GRAPH_SETTINGS)
    for _ in range(FITS):
        frozen.fit(ds)
        sgd.fit(ds)
    for name in ("B1-0", "B1-1", "B1-2", "B1-Output"):
        np.testing.assert_array_equal(layer_params(frozen, name), layer_params(sgd, name),
                                      err_msg=name)
