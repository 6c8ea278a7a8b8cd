"""How the transfer builders combine their edits (DL4J parity, round 2):

* the order of the calls does not matter: fine_tune_configuration anywhere keeps every other
  edit (DL4J's #8992 drops them), and several orders give the same network, JSON and parameters;
* n_out_replace / n_in_replace compose on one layer and refuse to contradict each other, and an
  edit of a layer that a removal takes out again is refused rather than lost;
* n_in_replace takes DL4J's (WeightInit, Distribution) overload;
* a network input can be removed and replaced;
* set_input_types refuses more types than inputs; a trainable layer that no gradient reaches is
  reported;
* a graph's n_out_replace resets the replaced layer's training settings (DL4J's
  resetLayerDefaultConfig), a multi-layer network's keeps them.
"""

import warnings

import numpy as np
import pytest

from devices import host
from minidl import (Activation, Adam, ComputationGraph, ConstantDistribution, DataSet, DenseLayer, FrozenLayer,
                    FrozenLayerWithBackprop, InputType, LossFunction, MultiLayerNetwork,
                    NeuralNetConfiguration, NormalDistribution, OutputLayer, Sgd, UniformDistribution,
                    WeightInit)
from transfer import FineTuneConfiguration, TransferLearning

XAVIER = WeightInit.XAVIER


def _softmax_out(n_in, n_out, **settings):
    return OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=n_in,
                       n_out=n_out, **settings)


def _chain_graph(*, input_types=(), frozen=(), **settings):
    """in -> l0 Dense(4->5) -> l1 Dense(5->3) -> out softmax(3->2); ``frozen`` names are
    wrapped in FrozenLayer."""
    settings = {"seed": 1, "updater": Sgd(0.1), **settings}
    builder = NeuralNetConfiguration.Builder()
    for name, value in settings.items():
        getattr(builder, name)(value)
    layers = [("l0", DenseLayer(n_in=4, n_out=5), "in"), ("l1", DenseLayer(n_in=5, n_out=3), "l0"),
              ("out", _softmax_out(3, 2), "l1")]
    graph = builder.graph_builder().add_inputs("in")
    for name, layer, source in layers:
        graph.add_layer(name, FrozenLayer(layer) if name in frozen else layer, source)
    if input_types:
        graph.set_input_types(*input_types)
    return ComputationGraph(graph.set_outputs("out").build()).init()


def _chain_mln(**settings):
    """Dense(4->5) -> Dense(5->3) -> softmax(3->2)."""
    builder = NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1))
    for name, value in settings.items():
        getattr(builder, name)(value)
    conf = (builder.list().layer(DenseLayer(n_in=4, n_out=5)).layer(DenseLayer(n_in=5, n_out=3))
            .layer(_softmax_out(3, 2)).build())
    return MultiLayerNetwork(conf).init()


def _ftc():
    return FineTuneConfiguration.Builder().updater(Adam(0.05)).l2(1e-3).seed(9).build()


def _data(n_in=4, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return DataSet(rng.normal(size=(6, n_in)).astype(np.float32),
                   np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, 6)])


def _params(net):
    return {key: host(value).copy() for key, value in net.param_table().items()}


def _assert_same_network(a, b):
    assert a.conf.to_json() == b.conf.to_json()
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for key in pa:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


def _assert_kept(net, original, keys):
    for key in keys:
        np.testing.assert_array_equal(host(net.get_param(key)), host(original.get_param(key)),
                                      err_msg=key)


# -- 1. the order of the calls does not matter ---------------------------------------------------

def test_fine_tune_configuration_after_n_out_replace_keeps_it_and_the_trained_weights():
    trained = _chain_graph()
    net = (TransferLearning.GraphBuilder(trained).n_out_replace("l1", 7, XAVIER)
           .fine_tune_configuration(_ftc()).build())
    assert net.layer_size("l1") == 7 and net.layer_input_size("out") == 7
    _assert_kept(net, trained, ["l0_W", "l0_b"])
    assert net.get_layer("l0").updater == Adam(0.05)  # and the fine-tuning took


def test_fine_tune_configuration_after_a_removal_and_an_addition_keeps_them():
    trained = _chain_graph()
    net = (TransferLearning.GraphBuilder(trained)
           .remove_vertex_and_connections("out")
           .add_layer("newOut", _softmax_out(3, 4), "l1")
           .set_outputs("newOut")
           .fine_tune_configuration(_ftc()).build())
    assert "out" not in net.conf.vertices and net.output_names == ["newOut"]
    assert net.get_layer("newOut").updater == Adam(0.05)  # filled from the fine-tuning
    _assert_kept(net, trained, ["l0_W", "l0_b", "l1_W", "l1_b"])


_GRAPH_EDITS = {
    "ftc": lambda b: b.fine_tune_configuration(_ftc()),
    "n_out": lambda b: b.n_out_replace("l1", 6, XAVIER),
    "freeze": lambda b: b.set_feature_extractor("l0"),
    "remove": lambda b: b.remove_vertex_and_connections("out"),
    "add": lambda b: b.add_layer("newOut", _softmax_out(6, 4), "l1"),
    "outputs": lambda b: b.set_outputs("newOut"),
}


@pytest.mark.parametrize("order", [
    ["ftc", "n_out", "freeze", "remove", "add", "outputs"],
    ["n_out", "freeze", "remove", "add", "outputs", "ftc"],
    ["remove", "ftc", "add", "n_out", "outputs", "freeze"],
    ["outputs", "add", "freeze", "remove", "n_out", "ftc"],
])
def test_graph_edits_in_any_order_give_the_same_network(order):
    trained = _chain_graph()
    reference = TransferLearning.GraphBuilder(trained)
    for name in _GRAPH_EDITS:
        _GRAPH_EDITS[name](reference)
    reference = reference.build()
    builder = TransferLearning.GraphBuilder(trained)
    for name in order:
        _GRAPH_EDITS[name](builder)
    net = builder.build()
    _assert_same_network(net, reference)
    assert net.layer_size("l1") == 6 and net.output_names == ["newOut"]
    assert net.get_layer("l0").frozen and not net.get_layer("l1").frozen
    assert net.get_layer("l1").updater == Adam(0.05) and net.get_layer("l1").l2 == 1e-3
    _assert_kept(net, trained, ["l0_W", "l0_b"])
    assert net.conf.seed == 9  # the fine-tune seed, whatever came first


_MLN_EDITS = {
    "ftc": lambda b: b.fine_tune_configuration(_ftc()),
    "n_out": lambda b: b.n_out_replace(1, 6, XAVIER),
    "freeze": lambda b: b.set_feature_extractor(0),
    "remove": lambda b: b.remove_output_layer(),
    "add": lambda b: b.add_layer(_softmax_out(6, 4)),
}


@pytest.mark.parametrize("order", [
    ["ftc", "n_out", "freeze", "remove", "add"],
    ["n_out", "freeze", "remove", "add", "ftc"],
    ["add", "remove", "ftc", "freeze", "n_out"],
])
def test_multi_layer_edits_in_any_order_give_the_same_network(order):
    trained = _chain_mln()
    builders = [TransferLearning.Builder(trained), TransferLearning.Builder(trained)]
    for name in _MLN_EDITS:
        _MLN_EDITS[name](builders[0])
    for name in order:
        _MLN_EDITS[name](builders[1])
    reference, net = (b.build() for b in builders)
    _assert_same_network(net, reference)
    assert net.layer_size(1) == 6 and net.layer_input_size(2) == 6 and net.layer_size(2) == 4
    assert net.get_layer(0).frozen and net.get_layer(0).layer.updater == Adam(0.05)
    _assert_kept(net, trained, ["0_W", "0_b"])


def test_set_feature_extractor_may_name_a_vertex_added_later():
    trained = _chain_graph()
    net = (TransferLearning.GraphBuilder(trained).set_feature_extractor("side")
           .add_layer("side", DenseLayer(n_in=5, n_out=2), "l0")
           .add_layer("out2", _softmax_out(2, 2), "side").set_outputs("out", "out2").build())
    assert {name for name, layer in net.layer_items() if layer.frozen} == {"l0", "side"}


# -- resizes compose, and no edit is lost ----------------------------------------------------------

@pytest.mark.parametrize("n_in_first", [True, False])
def test_n_in_and_n_out_replace_of_one_graph_layer_both_hold(n_in_first):
    """DL4J rebuilds the layer from the original at each of the two calls, so the first is lost."""
    trained = _chain_graph()
    edits = [lambda b: b.n_in_replace("l0", 6, XAVIER), lambda b: b.n_out_replace("l0", 7, XAVIER)]
    builder = (TransferLearning.GraphBuilder(trained).remove_vertex_keep_connections("in")
               .add_inputs("in").set_input_types(InputType.feed_forward(6)))
    for edit in edits if n_in_first else reversed(edits):
        edit(builder)
    net = builder.build()
    assert (net.layer_input_size("l0"), net.layer_size("l0")) == (6, 7)
    assert net.layer_input_size("l1") == 7
    _assert_kept(net, trained, ["out_W", "out_b"])


def test_a_layer_resized_by_its_input_keeps_its_own_n_out_replace():
    """Whichever call comes first, l1 takes n_in from l0's new n_out and keeps its own n_out and
    scheme (DL4J's graph builder loses l1's nOut when l0's nOutReplace comes second)."""
    trained = _chain_graph()
    normal = NormalDistribution(0, 0.01)
    for first_l0 in (True, False):
        builder = TransferLearning.GraphBuilder(trained)
        edits = [lambda b: b.n_out_replace("l0", 6, XAVIER, UniformDistribution(-1, 1)),
                 lambda b: b.n_out_replace("l1", 8, normal)]
        for edit in edits if first_l0 else reversed(edits):
            edit(builder)
        net = builder.build()
        assert (net.layer_input_size("l1"), net.layer_size("l1")) == (6, 8)
        assert net.get_layer("l1").weight_init == normal and net.layer_input_size("out") == 8


@pytest.mark.parametrize("make", [
    lambda: TransferLearning.Builder(_chain_mln()).n_out_replace(0, 7, XAVIER)
    .n_in_replace(1, 5, XAVIER),
    lambda: TransferLearning.GraphBuilder(_chain_graph()).n_out_replace("l0", 7, XAVIER)
    .n_in_replace("l1", 5, XAVIER),
])
def test_n_in_replace_contradicting_an_n_out_replace_is_refused(make):
    """DL4J's multi-layer builder lets the nIn win (a broken network), its graph builder the
    nOut (the n_in_replace is silently ignored)."""
    with pytest.raises(ValueError, match=r"n_in_replace\('?l?1'?, 5\) contradicts "
                                         r"n_out_replace\('?l?0'?, 7\)"):
        make().build()


@pytest.mark.parametrize("make, removal", [
    (lambda: TransferLearning.Builder(_chain_mln()).n_out_replace(2, 3, XAVIER)
     .remove_output_layer().add_layer(_softmax_out(3, 3)), "remove_output_layer"),
    (lambda: TransferLearning.GraphBuilder(_chain_graph()).n_out_replace("out", 3, XAVIER)
     .remove_vertex_keep_connections("out").add_layer("out", _softmax_out(3, 3), "l1"),
     "remove_vertex"),
])
def test_resizing_a_layer_that_is_removed_again_is_refused(make, removal):
    with pytest.raises(ValueError, match=f"n_out_replace.*removed by {removal}"):
        make().build()


# -- 5. n_in_replace(layer, n_in, WeightInit, Distribution) ----------------------------------------

def test_n_in_replace_takes_a_scheme_and_a_distribution():
    constant = ConstantDistribution(0.25)
    mln = TransferLearning.Builder(_chain_mln()) \
        .n_in_replace(1, 5, WeightInit.DISTRIBUTION, constant).build()
    graph = TransferLearning.GraphBuilder(_chain_graph()) \
        .nInReplace("l1", 5, WeightInit.DISTRIBUTION, constant).build()
    for net, layer, key in ((mln, 1, "1_W"), (graph, "l1", "l1_W")):
        assert net.get_layer(layer).weight_init == constant
        np.testing.assert_array_equal(host(net.get_param(key)), 0.25)  # drawn from it


def test_n_in_replace_distribution_needs_the_distribution_scheme():
    builder = TransferLearning.GraphBuilder(_chain_graph())
    with pytest.raises(ValueError, match="only used with WeightInit.DISTRIBUTION"):
        builder.n_in_replace("out", 3, XAVIER, NormalDistribution(0, 1))
    with pytest.raises(ValueError, match="needs the distribution"):
        TransferLearning.Builder(_chain_mln()).n_in_replace(1, 5, WeightInit.DISTRIBUTION)
    net = TransferLearning.Builder(_chain_mln()).nInReplace(1, 5, XAVIER, None).build()
    assert net.get_layer(1).weight_init is XAVIER  # DL4J's (scheme, null): the scheme alone


# -- 7. a network input can be removed and replaced -----------------------------------------------

def test_an_input_can_be_replaced_and_the_network_trains_with_the_original_weights():
    trained = _chain_graph(input_types=[InputType.feed_forward(4)])
    net = (TransferLearning.GraphBuilder(trained).remove_vertex_keep_connections("in")
           .add_inputs("in").set_input_types(InputType.feed_forward(4)).build())
    assert net.conf.network_inputs == ["in"]
    assert net.conf.input_types == [InputType.feed_forward(4)]
    _assert_kept(net, trained, trained.param_table())
    before = _params(net)
    net.fit(_data())
    assert all(not np.array_equal(before[k], v) for k, v in _params(net).items())


def test_an_input_of_another_size_with_n_in_replace_keeps_the_rest():
    trained = _chain_graph()
    net = (TransferLearning.GraphBuilder(trained).remove_vertex_and_connections("in")
           .add_inputs("pixels").set_input_types(InputType.feed_forward(9))
           .remove_vertex_keep_connections("l0").add_layer("l0", DenseLayer(n_in=9, n_out=5),
                                                           "pixels")
           .build())
    assert net.conf.network_inputs == ["pixels"] and net.layer_input_size("l0") == 9
    _assert_kept(net, trained, ["l1_W", "l1_b", "out_W", "out_b"])
    net.fit(_data(n_in=9))


# -- 8. input types and untrainable layers ---------------------------------------------------------

def test_more_input_types_than_inputs_are_refused_at_build():
    builder = TransferLearning.GraphBuilder(_chain_graph()).set_input_types(
        InputType.feed_forward(4), InputType.feed_forward(4))
    with pytest.raises(ValueError, match=r"set_input_types: 2 input types .* for 1 network "
                                         r"inputs \['in'\]"):
        builder.build()


def test_a_trainable_layer_feeding_only_frozen_ones_is_reported():
    """A restored network frozen up to l1, whose l0 is replaced by a fresh layer: l0 can never
    train (FrozenLayer stops the gradient), and build() says so."""
    frozen = TransferLearning.GraphBuilder(_chain_graph()).set_feature_extractor("l1").build()
    builder = (TransferLearning.GraphBuilder(frozen).remove_vertex_keep_connections("l0")
               .add_layer("l0", DenseLayer(n_in=4, n_out=5), "in"))
    with pytest.warns(UserWarning, match=r"layer 'l0' \(DenseLayer\) is trainable, but every "
                                         r"path from it to an output passes a frozen layer"):
        net = builder.build()
    before = _params(net)
    net.fit(_data())
    np.testing.assert_array_equal(_params(net)["l0_W"], before["l0_W"])  # indeed never trains


def test_a_multi_layer_network_with_a_trainable_layer_below_a_frozen_one_is_reported():
    conf = (NeuralNetConfiguration.Builder().seed(1).list().layer(DenseLayer(n_in=4, n_out=5))
            .layer(FrozenLayer(DenseLayer(n_in=5, n_out=3))).layer(_softmax_out(3, 2)).build())
    with pytest.warns(UserWarning, match=r"layer '0' \(DenseLayer\) is trainable"):
        TransferLearning.Builder(MultiLayerNetwork(conf).init()).build()


def test_no_report_where_the_gradient_gets_through():
    with_backprop = (NeuralNetConfiguration.Builder().seed(1).list()
                     .layer(DenseLayer(n_in=4, n_out=5))
                     .layer(FrozenLayerWithBackprop(DenseLayer(n_in=5, n_out=3)))
                     .layer(_softmax_out(3, 2)).build())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TransferLearning.Builder(MultiLayerNetwork(with_backprop).init()).build()
        TransferLearning.GraphBuilder(_chain_graph()).set_feature_extractor("l1").build()
        TransferLearning.Builder(_chain_mln()).set_feature_extractor(1).build()


# -- 9. a graph's n_out_replace resets the layer's settings (DL4J's resetLayerDefaultConfig) -----

def test_graph_n_out_replace_without_fine_tuning_resets_the_layer_to_dl4j_defaults():
    trained = _chain_graph(updater=Adam(0.01), l2=1e-3, activation=Activation.TANH)
    net = TransferLearning.GraphBuilder(trained).n_out_replace("l0", 6, XAVIER).build()
    l0, l1 = net.get_layer("l0"), net.get_layer("l1")
    assert l0.updater == Sgd(1e-3) and l0.l2 == 0.0  # DL4J's defaults ...
    assert l0.activation is Activation.TANH  # ... but the activation stays
    assert l1.updater == Adam(0.01) and l1.l2 == 1e-3  # the layer it feeds keeps its own
    assert l1.n_in == 6
    # The multi-layer builder edits the layer as it is, as DL4J's does.
    mln = TransferLearning.Builder(_chain_mln(updater=Adam(0.01), l2=1e-3)) \
        .n_out_replace(0, 6, XAVIER).build()
    assert mln.get_layer(0).updater == Adam(0.01) and mln.get_layer(0).l2 == 1e-3
