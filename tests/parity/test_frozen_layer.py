"""DL4J's FrozenLayerTest, ported
(deeplearning4j-nn/src/test/java/.../nn/layers/FrozenLayerTest.java).

Ported, all six: testFrozen, cloneMLNFrozen, testFrozenCompGraph, cloneCompGraphFrozen,
testFrozenLayerInstantiation, testFrozenLayerInstantiationCompGraph.

Both sides of each comparison run the same float32 operations in the same order, so parameters
are compared bit for bit (np.array_equal) where DL4J's assertEquals allows ~1e-5. Every test
runs on each backend (``device``), comparing on the host.
"""

import numpy as np

from devices import devices_of, host
from dl4j_nets import (check_instantiation, check_instantiation_comp_graph, graph, hstack_params,
                       layer_params, mln, rand)
from minidl import Activation, DataSet, DenseLayer, FrozenLayer, LossFunction, OutputLayer, Sgd
from transfer import FineTuneConfiguration, TransferLearning

SETTINGS = dict(seed=12345, updater=Sgd(0.1), activation=Activation.IDENTITY)


def dense(n_in, n_out, **kw):
    return DenseLayer(n_in=n_in, n_out=n_out, **kw)


def out(n_in, n_out, **kw):
    return OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=n_in,
                       n_out=n_out, **kw)


def data(seed=0):
    rng = np.random.default_rng(seed)
    return DataSet(rand(rng, 10, 4), rand(rng, 10, 3))


def original_mln():
    return mln([dense(4, 3), dense(3, 2), dense(2, 3), out(3, 3)], **SETTINGS)


def head_mln(params):
    return mln([dense(2, 3), out(3, 3)], params=params, **SETTINGS)


def original_graph():
    return graph(["layer0In"], [("layer0", dense(4, 3), ["layer0In"]),
                                ("layer1", dense(3, 2), ["layer0"]),
                                ("layer2", dense(2, 3), ["layer1"]),
                                ("layer3", out(3, 3), ["layer2"])], ["layer3"], **SETTINGS)


def head_graph(params):
    net = graph(["layer0In"], [("layer0", dense(2, 3), ["layer0In"]),
                               ("layer1", out(3, 3), ["layer0"])], ["layer1"], **SETTINGS)
    net.set_params(params)
    return net


def test_frozen(device):
    ds = data()
    orig = original_mln()
    as_frozen = orig.feed_forward_to_layer(2, ds.features)[2]
    ftc = FineTuneConfiguration.Builder().updater(Sgd(0.1)).build()
    model_now = TransferLearning.Builder(orig).fine_tune_configuration(ftc) \
        .set_feature_extractor(1).build()
    not_frozen = head_mln(hstack_params(layer_params(orig, 2), layer_params(orig, 3)))

    assert devices_of(model_now) == devices_of(not_frozen) == {device}
    np.testing.assert_array_equal(host(model_now.output(ds.features)),
                                  host(not_frozen.output(as_frozen)))
    for i in range(5):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        model_now.fit(ds)
    expected = hstack_params(layer_params(orig, 0), layer_params(orig, 1), not_frozen.params())
    np.testing.assert_array_equal(host(model_now.params()), expected)


def test_clone_mln_frozen(device):
    ds = data()
    orig = original_mln()
    as_frozen = orig.feed_forward_to_layer(2, ds.features)[2]
    model_now = TransferLearning.Builder(orig).set_feature_extractor(1).build()  # no FTC
    not_frozen = head_mln(hstack_params(layer_params(orig, 2), layer_params(orig, 3)))
    clone = model_now.clone()

    assert clone.conf.to_json() == model_now.conf.to_json()
    np.testing.assert_array_equal(host(clone.params()), host(model_now.params()))
    assert [l.frozen for l in clone.layers] == [True, True, False, False]
    for i in range(5):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        model_now.fit(ds)
        clone.fit(ds)
    expected = hstack_params(layer_params(orig, 0), layer_params(orig, 1), not_frozen.params())
    np.testing.assert_array_equal(host(model_now.params()), expected)
    np.testing.assert_array_equal(host(clone.params()), expected)


def test_frozen_comp_graph(device):
    ds = data()
    orig = original_graph()
    as_frozen = orig.feed_forward(ds.features)["layer1"]
    model_now = TransferLearning.GraphBuilder(orig).fine_tune_configuration(
        FineTuneConfiguration.Builder().updater(Sgd(0.1)).build()) \
        .set_feature_extractor("layer1").build()
    not_frozen = head_graph(hstack_params(layer_params(orig, "layer2"),
                                          layer_params(orig, "layer3")))

    assert devices_of(model_now) == devices_of(not_frozen) == {device}
    np.testing.assert_array_equal(host(model_now.output_single(ds.features)),
                                  host(not_frozen.output_single(as_frozen)))
    for i in range(5):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        model_now.fit(ds)
    expected = hstack_params(layer_params(orig, "layer0"), layer_params(orig, "layer1"),
                             not_frozen.params())
    np.testing.assert_array_equal(host(model_now.params()), expected)


def test_clone_comp_graph_frozen(device):
    ds = data()
    orig = original_graph()
    as_frozen = orig.feed_forward(ds.features)["layer1"]
    model_now = TransferLearning.GraphBuilder(orig).set_feature_extractor("layer1").build()
    clone = model_now.clone()
    not_frozen = head_graph(hstack_params(layer_params(orig, "layer2"),
                                          layer_params(orig, "layer3")))

    assert clone.conf.to_json() == model_now.conf.to_json()
    np.testing.assert_array_equal(host(clone.params()), host(model_now.params()))
    for i in range(5):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        model_now.fit(ds)
        clone.fit(ds)
    expected = hstack_params(layer_params(orig, "layer0"), layer_params(orig, "layer1"),
                             not_frozen.params())
    np.testing.assert_array_equal(host(model_now.params()), expected)
    np.testing.assert_array_equal(host(clone.params()), expected)


def test_frozen_layer_instantiation(device):
    check_instantiation(FrozenLayer)


def test_frozen_layer_instantiation_comp_graph(device):
    # DL4J writes the wrapper with its builder: FrozenLayer.Builder().layer(...).build()
    check_instantiation_comp_graph(lambda layer: FrozenLayer.Builder().layer(layer).build())
