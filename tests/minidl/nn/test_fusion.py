"""Inference-time conv + batch norm (+ activation) fusion: the same outputs as the unfused
network (its ``feed_forward``, which keeps every activation and so never fuses), only where no
gradient is wanted, and never with stale folded weights."""

import numpy as np
import pytest

from minidl import (Activation, ActivationLayer, BatchNormalization, ComputationGraph,
                    ConvolutionLayer, DepthwiseConvolution2D, ElementWiseVertex,
                    GlobalPoolingLayer, InputType, LossFunction, NeuralNetConfiguration,
                    OutputLayer, Sgd)
from minidl.autograd import no_grad
from minidl.nn import fusion
from minidl.nn.layers import Context
from minidl.ops.conv import kernel_matrix

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[[0, 2]]


def _conv(n_out, kernel=3, **kw):
    return ConvolutionLayer(kernel_size=(kernel, kernel), padding=(kernel // 2,) * 2,
                            n_out=n_out, activation=Activation.IDENTITY, **kw)


def _graph(two_readers=False):
    """x -> c1 -> b1 -> r1 (ReLU) -> d1 (depthwise, no bias) -> b2 (its own ReLU6) -> c3 (1x1,
    no bias) -> b3 -> pool -> out. With ``two_readers``, r1 + c1 feeds d1: c1 has two readers."""
    g = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).graph_builder()
         .add_inputs("x")
         .add_layer("c1", _conv(6), "x")
         .add_layer("b1", BatchNormalization(), "c1")
         .add_layer("r1", ActivationLayer(activation=Activation.RELU), "b1"))
    first = "r1"
    if two_readers:
        g.add_vertex("sum", ElementWiseVertex(ElementWiseVertex.Op.Add), "r1", "c1")
        first = "sum"
    g = (g.add_layer("d1", DepthwiseConvolution2D(kernel_size=(3, 3), padding=(1, 1),
                                                  depth_multiplier=2, has_bias=False,
                                                  activation=Activation.IDENTITY), first)
         .add_layer("b2", BatchNormalization(activation=Activation.RELU6), "d1")
         .add_layer("c3", _conv(4, kernel=1, has_bias=False), "b2")
         .add_layer("b3", BatchNormalization(), "c3")
         .add_layer("pool", GlobalPoolingLayer(), "b3")
         .add_layer("out", OutputLayer(n_out=3, activation=Activation.SOFTMAX,
                                       loss=LossFunction.MCXENT), "pool")
         .set_outputs("out").set_input_types(InputType.convolutional(8, 8, 3)))
    net = ComputationGraph(g.build()).init()
    for name in ("b1", "b2", "b3"):  # batch norms far from the identity, so folding shows
        n = net.get_param(f"{name}_mean").size
        net.set_param(f"{name}_gamma", RNG.uniform(0.5, 2.0, n))
        net.set_param(f"{name}_beta", RNG.uniform(-0.5, 0.5, n))
        net.set_param(f"{name}_mean", RNG.normal(0, 0.5, n))
        net.set_param(f"{name}_var", RNG.uniform(0.5, 2.0, n))
    return net


def _unfused(net, x=X):
    return net.feed_forward(x)["out"]


def _chains(net, keep=("out",)):
    wiring = net.wiring
    with no_grad():
        return fusion.find_chains(wiring, wiring.order, set(keep), Context(train=False, rng=None))


def test_fused_output_matches_the_unfused_network():
    net = _graph()
    chains = _chains(net)
    assert {conv: chain.last for conv, chain in chains.items()} == \
        {"c1": "r1", "d1": "b2", "c3": "b3"}
    assert chains["c1"].activation == "relu" and chains["d1"].activation == "relu6"
    assert chains["c3"].activation is None
    np.testing.assert_allclose(net.output_single(X), _unfused(net), rtol=1e-5, atol=1e-7)
    assert len(fusion.FoldCache.of(net).entries) == 3  # the fused path ran


def test_fold_is_the_batch_norm_of_the_convolution():
    # hand check of one folded conv: conv(x, W * s) + b * s + t == BN(conv(x, W) + b)
    net = _graph()
    conv, norm = net.wiring.vertices["c1"], net.wiring.vertices["b1"]
    W, b = fusion.fold(conv, net.param_tables["c1"], norm, net.param_tables["b1"])
    p = {k: net.get_param(f"b1_{k}").astype(np.float64) for k in ("gamma", "beta", "mean", "var")}
    s = p["gamma"] / np.sqrt(p["var"] + norm.eps)
    np.testing.assert_allclose(W, net.get_param("c1_W") * s[:, None, None, None], rtol=1e-6)
    assert np.shares_memory(kernel_matrix(W), W)  # laid out for the GEMM: no copy per forward
    np.testing.assert_allclose(b, (net.get_param("c1_b") - p["mean"]) * s + p["beta"],
                               rtol=1e-6, atol=1e-7)


def test_a_conv_with_two_readers_is_not_fused():
    net = _graph(two_readers=True)
    assert "c1" not in _chains(net) and set(_chains(net)) == {"d1", "c3"}
    np.testing.assert_allclose(net.output_single(X), _unfused(net), rtol=1e-5, atol=1e-7)


def test_an_activation_asked_for_ends_the_chain():
    net = _graph()
    assert _chains(net, keep=("b1", "out"))["c1"].last == "b1"
    fused = net.feed_forward(X, until="b1")["b1"]
    np.testing.assert_allclose(fused, net.feed_forward(X)["b1"], rtol=1e-5, atol=1e-6)


def test_no_fusion_while_training_or_with_gradients():
    net = _graph()
    assert _chains(net) and not fusion.find_chains(
        net.wiring, net.wiring.order, {"out"}, Context(train=True, rng=None))
    assert not fusion.find_chains(net.wiring, net.wiring.order, {"out"},
                                  Context(train=False, rng=None))  # gradients enabled


def test_fit_is_bitwise_the_same_with_inference_in_between(monkeypatch):
    fused = _graph()
    plain = fused.clone()
    for _ in range(3):
        fused.output_single(X)  # fills (and must not disturb) the fold cache
        fused.fit(X, Y)
    monkeypatch.setattr(fusion, "find_chains", lambda *args: {})
    for _ in range(3):
        plain.output_single(X)
        plain.fit(X, Y)
    np.testing.assert_array_equal(fused.params(), plain.params())
    assert fused.score() == plain.score()


@pytest.mark.parametrize("change", ["set_param", "set_params", "in_place_stats", "in_place_weights",
                                    "param_table", "fit"])
def test_changed_parameters_refold(change):
    net = _graph()
    before = net.output_single(X)
    if change == "set_param":
        net.set_param("c1_W", net.get_param("c1_W") * 1.5)
    elif change == "set_params":
        net.set_params(net.params() * 0.9)
    elif change == "in_place_stats":
        net.get_param("b2_mean")[...] += 0.5  # a live array, written behind the network's back
    elif change == "in_place_weights":
        net.get_param("c1_W")[...] *= 1.5  # DL4J's getParam is a view: writing it counts
    elif change == "param_table":
        net.param_table()["c1_W"][...] *= 1.5
    else:
        net.fit(X, Y)  # the updates and the running statistics change
    after = net.output_single(X)
    assert not np.allclose(after, before, rtol=1e-4)
    np.testing.assert_allclose(after, _unfused(net), rtol=1e-5, atol=1e-7)


def test_repeated_forwards_reuse_the_folded_weights():
    net = _graph()
    net.output_single(X)
    entries = {k: v[1] for k, v in fusion.FoldCache.of(net).entries.items()}
    net.output_single(X)
    assert all(fusion.FoldCache.of(net).entries[k][1] is W for k, W in entries.items())


def test_a_multilayer_network_fuses_too():
    from minidl import MultiLayerNetwork

    conf = (NeuralNetConfiguration.Builder().seed(2).list()
            .layer(_conv(5))
            .layer(BatchNormalization())
            .layer(ActivationLayer(activation=Activation.LEAKYRELU, alpha=0.2))
            .layer(GlobalPoolingLayer())
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT))
            .set_input_type(InputType.convolutional(8, 8, 3)).build())
    net = MultiLayerNetwork(conf).init()
    net.set_param("1_mean", RNG.normal(0, 0.5, 5))
    net.set_param("1_var", RNG.uniform(0.5, 2.0, 5))
    assert _chains(net, keep=("4",))["0"].last == "2"
    assert _chains(net, keep=("4",))["0"].alpha == 0.2
    np.testing.assert_allclose(net.output(X), net.feed_forward(X)[-1], rtol=1e-5, atol=1e-7)
    assert fusion.FoldCache.of(net).entries


def _residual_graph(b1_activation=Activation.IDENTITY, two_branches=False):
    """x -> c1 -> b1, summed with x (or, with ``two_branches``, with x -> c2 -> b2) -> ReLU ->
    pool -> out."""
    g = (NeuralNetConfiguration.Builder().seed(3).graph_builder().add_inputs("x")
         .add_layer("c1", _conv(3), "x")
         .add_layer("b1", BatchNormalization(activation=b1_activation), "c1"))
    shortcut = "x"
    if two_branches:
        g = g.add_layer("c2", _conv(3, kernel=1), "x").add_layer("b2", BatchNormalization(), "c2")
        shortcut = "b2"
    g = (g.add_vertex("sum", ElementWiseVertex(ElementWiseVertex.Op.Add), "b1", shortcut)
         .add_layer("r", ActivationLayer(activation=Activation.RELU), "sum")
         .add_layer("pool", GlobalPoolingLayer(), "r")
         .add_layer("out", OutputLayer(n_out=3, activation=Activation.SOFTMAX,
                                       loss=LossFunction.MCXENT), "pool")
         .set_outputs("out").set_input_types(InputType.convolutional(8, 8, 3)).build())
    net = ComputationGraph(g).init()
    for name in ["b1", "b2"] if two_branches else ["b1"]:
        n = net.get_param(f"{name}_mean").size
        net.set_param(f"{name}_mean", RNG.normal(0, 0.5, n))
        net.set_param(f"{name}_var", RNG.uniform(0.5, 2.0, n))
    return net


def _assert_fused_matches(net):
    x = X.copy()
    fused = net.feed_forward(x, until="r")["r"]
    np.testing.assert_array_equal(x, X)  # the network's input is never written
    np.testing.assert_allclose(fused, net.feed_forward(x)["r"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.output_single(x), _unfused(net, x), rtol=1e-5, atol=1e-6)


def test_a_residual_block_end_is_summed_in_the_convolution():
    """conv -> norm -> add(shortcut) -> ReLU: one convolution whose output pass adds the
    folded bias and the shortcut and applies the ReLU."""
    net = _residual_graph()
    chain = _chains(net, keep=("r",))["c1"]
    assert (chain.add, chain.shortcut, chain.last, chain.activation) == ("sum", "x", "r", "relu")
    assert "sum" not in _chains(net, keep=("r",))  # one chain per vertex
    _assert_fused_matches(net)


def test_a_shortcut_computed_after_the_conv_is_summed_into_the_other_branch():
    net = _residual_graph(two_branches=True)
    chains = _chains(net, keep=("r",))
    assert chains["c1"].add is None  # b2 is not there yet when c1 runs
    assert (chains["c2"].add, chains["c2"].shortcut) == ("sum", "b1")
    _assert_fused_matches(net)


def test_a_sum_of_activated_branches_gets_its_activation_in_place():
    """b1 has an activation of its own, so the chain ends there and the Add is a
    SumActivation: the sum and the ReLU in one pass into reused memory."""
    net = _residual_graph(b1_activation=Activation.TANH)
    chains = _chains(net, keep=("r",))
    assert chains["c1"].last == "b1" and isinstance(chains["sum"], fusion.SumActivation)
    _assert_fused_matches(net)
    np.testing.assert_array_equal(net.feed_forward(X, until="r")["r"],
                                  np.maximum(net.feed_forward(X, until="sum")["sum"], 0))
