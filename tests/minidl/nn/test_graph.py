"""ComputationGraph: vertices vs hand computation, training, gradients, API, clear errors."""

import numpy as np
import pytest

from conftest import assert_network_gradients
from devices import host
from minidl import (Activation, Adam, BatchNormalization, CnnToFeedForwardPreProcessor,
                    ComputationGraph, ConvolutionLayer, DenseLayer, ElementWiseVertex,
                    InputType, LossFunction, MergeVertex, MultiDataSet, NeuralNetConfiguration,
                    OutputLayer, PreprocessorVertex, SubsetVertex)
from minidl.autograd import Tensor
from minidl.backend import to_device

RNG = np.random.default_rng(0)


def _vertex_graph(vertex, n_inputs=2, input_type=InputType.feed_forward(3)):
    """in0..in{n-1} -> vertex "v" -> identity MSE output, so output() returns v's activation."""
    names = [f"in{i}" for i in range(n_inputs)]
    conf = (NeuralNetConfiguration.Builder().data_type("float64").graph_builder()
            .add_inputs(*names).add_vertex("v", vertex, *names)
            .add_layer("out", _identity_out(), "v").set_outputs("out")
            .set_input_types(*[input_type] * n_inputs).build())
    net = ComputationGraph(conf).init()
    return net


def _identity_out():
    # A LossLayer passes its input through: output() shows the vertex's activation.
    from minidl import LossLayer
    return LossLayer(loss=LossFunction.MSE, activation=Activation.IDENTITY)


def test_merge_vertex_concatenates_features(device):
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    net = _vertex_graph(MergeVertex())
    out = host(net.output_single(a, b))
    np.testing.assert_array_equal(out, np.hstack([a, b]))
    assert net.conf.vertices["out"].n_in == 6


def test_merge_vertex_concatenates_channels(device):
    t = InputType.convolutional(2, 2, 3)
    a, b = RNG.normal(size=(1, 3, 2, 2)), RNG.normal(size=(1, 3, 2, 2))
    net = _vertex_graph(MergeVertex(), input_type=t)
    out = host(net.feed_forward(a, b)["v"])
    assert out.shape == (1, 6, 2, 2)
    np.testing.assert_array_equal(out[:, 3:], b)
    np.testing.assert_array_equal(out[:, :3], a)


@pytest.mark.parametrize("op, expected", [
    ("Add", lambda a, b, c: a + b + c),
    ("Product", lambda a, b, c: a * b * c),
    ("Average", lambda a, b, c: (a + b + c) / 3),
    ("Max", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
])
def test_element_wise_vertex(op, expected, device):
    a, b, c = (RNG.normal(size=(4, 3)) for _ in range(3))
    net = _vertex_graph(ElementWiseVertex(getattr(ElementWiseVertex.Op, op)), n_inputs=3)
    np.testing.assert_allclose(host(net.output_single(a, b, c)), expected(a, b, c), rtol=1e-12)


def test_element_wise_subtract_and_its_input_count(device):
    a, b = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    net = _vertex_graph(ElementWiseVertex(ElementWiseVertex.Op.Subtract))
    np.testing.assert_allclose(host(net.output_single(a, b)), a - b)
    three = _vertex_graph(ElementWiseVertex(ElementWiseVertex.Op.Subtract), n_inputs=3)
    with pytest.raises(ValueError, match="Subtract.*exactly 2 inputs, got 3"):
        three.output_single(a, b, a)


def test_element_wise_max_gradient_goes_to_the_larger_input(device):
    a = Tensor(to_device(np.array([[1.0, 5.0]])), requires_grad=True)
    b = Tensor(to_device(np.array([[3.0, 2.0]])), requires_grad=True)
    ElementWiseVertex(ElementWiseVertex.Op.Max).forward([a, b], None).sum().backward()
    np.testing.assert_array_equal(host(a.grad), [[0.0, 1.0]])
    np.testing.assert_array_equal(host(b.grad), [[1.0, 0.0]])


def test_element_wise_shapes_must_agree():
    builder = (NeuralNetConfiguration.Builder().graph_builder().add_inputs("a", "b")
               .add_vertex("v", ElementWiseVertex(ElementWiseVertex.Op.Add), "a", "b")
               .add_layer("out", _identity_out(), "v").set_outputs("out")
               .set_input_types(InputType.feed_forward(3), InputType.feed_forward(4)))
    with pytest.raises(ValueError, match="ElementWiseVertex\\(Add\\): inputs must have the same shape"):
        builder.build()


def test_subset_vertex_is_inclusive(device):
    x = RNG.normal(size=(3, 6))
    net = _vertex_graph(SubsetVertex(1, 3), n_inputs=1, input_type=InputType.feed_forward(6))
    np.testing.assert_array_equal(host(net.output_single(x)), x[:, 1:4])
    assert net.conf.vertices["out"].n_in == 3


def test_preprocessor_vertex_flattens_in_c_h_w_order(device):
    x = RNG.normal(size=(2, 3, 2, 4))
    net = _vertex_graph(PreprocessorVertex(CnnToFeedForwardPreProcessor(2, 4, 3)), n_inputs=1,
                        input_type=InputType.convolutional(2, 4, 3))
    out = host(net.output_single(x))
    assert out[1, 1 * 8 + 1 * 4 + 2] == x[1, 1, 1, 2]  # (c, h, w) -> c*h*w + h*w + w
    np.testing.assert_array_equal(out, x.reshape(2, 24))


# -- a graph with two inputs, a merge and two outputs -----------------------------------------

def _two_headed(seed=5):
    conf = (NeuralNetConfiguration.Builder().seed(seed).updater(Adam(0.02)).graph_builder()
            .add_inputs("a", "b")
            .add_layer("da", DenseLayer(n_out=8, activation=Activation.TANH), "a")
            .add_layer("db", DenseLayer(n_out=8, activation=Activation.TANH), "b")
            .add_vertex("merge", MergeVertex(), "da", "db")
            .add_layer("class", OutputLayer(n_out=3, activation=Activation.SOFTMAX), "merge")
            .add_layer("reg", OutputLayer(n_out=1, activation=Activation.IDENTITY,
                                          loss=LossFunction.MSE), "merge")
            .set_outputs("class", "reg")
            .set_input_types(InputType.feed_forward(4), InputType.feed_forward(2)).build())
    return ComputationGraph(conf).init()


def _two_headed_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 4)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)
    cls = np.eye(3, dtype=np.float32)[(a[:, 0] > 0).astype(int) + (b[:, 0] > 0).astype(int)]
    reg = (a[:, 1:2] - b[:, 1:2]).astype(np.float32)
    return MultiDataSet([a, b], [cls, reg])


def test_graph_with_merge_and_two_outputs_trains(device):
    net = _two_headed()
    data = _two_headed_data()
    before = net.score(data)
    for _ in range(150):
        net.fit(data)
    assert net.score(data) < 0.2 * before
    classes, regression = host(net.output(*data.features))
    assert classes.shape == (32, 3) and regression.shape == (32, 1)
    assert np.mean(classes.argmax(1) == data.labels[0].argmax(1)) > 0.9


def test_graph_score_is_the_sum_of_output_losses(device):
    net = _two_headed()
    data = _two_headed_data(n=6)
    classes, regression = host(net.output(*data.features))
    xent = -np.sum(data.labels[0] * np.log(classes)) / 6
    mse = np.mean((regression - data.labels[1]) ** 2)
    assert net.score(data) == pytest.approx(xent + mse, rel=1e-5)


def test_inference_lets_go_of_activations_no_later_vertex_reads():
    """feed_forward(until=...), like output(), keeps only what is still to be read: after the
    merge, da and db are gone, so a deep network's inference holds a few activations, not all
    (the featurization peak)."""
    import weakref

    net = _two_headed()
    data = _two_headed_data(n=4)
    seen = {}
    real = net._vertex_forward

    def spy(name, acts, ctx):
        if name == "class":  # by now the merge has read da and db
            seen.update(alive=sorted(acts), da_ref=weakref.ref(seen.pop("da")))
        out = real(name, acts, ctx)
        if name == "da":
            seen["da"] = out
        return out
    net._vertex_forward = spy
    acts = net.feed_forward(*data.features, until=["class", "reg"])
    assert seen["alive"] == ["merge"]  # the inputs went too, after da and db read them
    assert seen["da_ref"]() is None  # freed, not only forgotten by the dict
    assert sorted(acts) == ["class", "reg"]
    classes, _ = host(net.output(*data.features))
    np.testing.assert_allclose(host(acts["class"]), classes, rtol=1e-6)


def test_graph_determinism_and_api(device):
    a, b = _two_headed(seed=9), _two_headed(seed=9)
    data = _two_headed_data()
    assert [a.fit(data) for _ in range(3)] == [b.fit(data) for _ in range(3)]
    np.testing.assert_array_equal(host(a.params()), host(b.params()))
    assert list(a.param_table()) == ["da_W", "da_b", "db_W", "db_b", "class_W", "class_b",
                                     "reg_W", "reg_b"]
    assert a.get_layer("da") is a.get_layer(0) and a.get_layer(2).name == "class"
    assert a.layer_size("da") == 8 and a.layer_input_size("class") == 16
    acts = host(a.feed_forward(*data.features))
    np.testing.assert_array_equal(acts["merge"], np.hstack([acts["da"], acts["db"]]))
    np.testing.assert_array_equal(acts["class"], host(a.output(*data.features)[0]))
    with pytest.raises(ValueError, match=r"output_single: the graph has 2 outputs"):
        a.output_single(*data.features)
    with pytest.raises(KeyError, match="vertex 'merge' \\(MergeVertex\\) is not a layer"):
        a.get_layer("merge")
    clone = a.clone()
    clone.set_param("da_b", np.ones(8))
    assert not np.array_equal(host(a.get_param("da_b")), np.ones(8))


def _dropout_graph():
    conf = (NeuralNetConfiguration.Builder().seed(3).graph_builder().add_inputs("in")
            .add_layer("hidden", DenseLayer(n_out=16, dropout=0.5), "in")
            .add_layer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "hidden")
            .set_outputs("out").set_input_types(InputType.feed_forward(4)).build())
    return ComputationGraph(conf).init()


def test_output_takes_dl4j_leading_train_flag(device):
    """DL4J's output(boolean train, INDArray... input) and outputSingle(boolean train, ...)."""
    x = to_device(RNG.normal(size=(6, 4)).astype(np.float32))
    net = _dropout_graph()
    inference = host(net.output(x)[0])
    np.testing.assert_array_equal(host(net.output(False, x)[0]), inference)
    np.testing.assert_array_equal(host(net.outputSingle(False, x)), inference)
    np.testing.assert_array_equal(host(net.output(False, [x])[0]), inference)
    a, b, c = net.clone(), net.clone(), net.clone()  # same dropout generator state
    trained = host(a.output(True, x)[0])
    assert not np.allclose(trained, inference)  # dropout was on
    np.testing.assert_array_equal(host(b.output(x, train=True)[0]), trained)
    np.testing.assert_array_equal(host(c.output_single(True, x)), trained)


def test_feed_forward_takes_dl4j_trailing_train_flag(device):
    """DL4J's feedForward(INDArray[] input, boolean train) puts the flag last."""
    x = to_device(RNG.normal(size=(6, 4)).astype(np.float32))
    net = _dropout_graph()
    a, b = net.clone(), net.clone()
    np.testing.assert_array_equal(host(net.feed_forward(x, False)["out"]),
                                  host(net.output(x)[0]))
    np.testing.assert_array_equal(host(a.feed_forward([x], True)["hidden"]),
                                  host(b.feed_forward(x, train=True)["hidden"]))


def test_a_misplaced_or_repeated_train_flag_raises():
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    net = _dropout_graph()
    with pytest.raises(TypeError, match=r"output: input 1 is a bool \(True\); the train flag "
                                        r"goes first or as train=..."):
        net.output(x, True)
    with pytest.raises(TypeError, match=r"output: the train flag is given twice"):
        net.output(False, x, train=True)
    with pytest.raises(TypeError, match=r"feed_forward: input 0 is a bool \(True\); the train "
                                        r"flag goes last"):
        net.feed_forward(True, x)


def test_graph_gradient_matches_numerical_cnn_bn_merge(device):
    conf = (NeuralNetConfiguration.Builder().seed(2).data_type("float64").graph_builder()
            .add_inputs("img", "vec")
            .add_layer("conv", ConvolutionLayer(kernel_size=(2, 2), n_out=2,
                                                activation=Activation.TANH), "img")
            .add_layer("bn", BatchNormalization(), "conv")
            .add_layer("fc", DenseLayer(n_out=3, activation=Activation.SIGMOID), "bn")
            .add_layer("fv", DenseLayer(n_out=3, activation=Activation.TANH), "vec")
            .add_vertex("prod", ElementWiseVertex(ElementWiseVertex.Op.Product), "fc", "fv")
            .add_vertex("merge", MergeVertex(), "prod", "fv")
            .add_layer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "merge")
            .set_outputs("out")
            .set_input_types(InputType.convolutional(3, 3, 1), InputType.feed_forward(2)).build())
    net = ComputationGraph(conf).init()
    rng = np.random.default_rng(3)
    data = MultiDataSet([rng.normal(size=(4, 1, 3, 3)), rng.normal(size=(4, 2))],
                        [np.eye(2)[[0, 1, 1, 0]]])
    assert_network_gradients(net, data)


# -- bad input --------------------------------------------------------------------------------

def test_wrong_number_of_inputs_and_labels():
    net = _two_headed()
    data = _two_headed_data(n=4)
    with pytest.raises(ValueError, match=r"the graph has 2 input\(s\) \['a', 'b'\], got 1"):
        net.output(data.features[0])
    with pytest.raises(ValueError, match=r"the graph has 2 output\(s\) \['class', 'reg'\], got 1 "
                                         r"label array"):
        net.fit(data.features, [data.labels[0]])


def test_wrong_feature_shape_names_the_layer(device):
    net = _two_headed()
    a, b = _two_headed_data(n=4).features
    with pytest.raises(ValueError, match=r"layer 'db' \(DenseLayer\): expected input \[batch, 2\], "
                                         r"got shape \(4, 4\)"):
        net.output(a, a)


def test_labels_with_wrong_classes_name_the_output(device):
    net = _two_headed()
    data = _two_headed_data(n=4)
    with pytest.raises(ValueError, match=r"layer 'class' \(OutputLayer\): labels of shape \(4, 2\)"):
        net.fit(data.features, [np.zeros((4, 2), np.float32), data.labels[1]])


def test_graph_evaluate_uses_the_first_output(device):
    from minidl import ListMultiDataSetIterator
    net = _two_headed()
    data = _two_headed_data(n=20)
    evaluation = net.evaluate(ListMultiDataSetIterator(data, batch_size=6))
    predicted = host(net.output(*data.features)[0]).argmax(1)
    assert evaluation.accuracy() == pytest.approx(np.mean(predicted == data.labels[0].argmax(1)))
    assert evaluation.get_confusion_matrix().sum() == 20


def test_feed_forward_until_returns_exactly_the_names_asked_for(device):
    net = _two_headed()
    data = _two_headed_data(n=3)
    full = net.feed_forward(*data.features)
    one = net.feed_forward(*data.features, until="merge")  # a single name
    assert list(one) == ["merge"]
    np.testing.assert_allclose(host(one["merge"]), host(full["merge"]), rtol=1e-6)
    some = net.feed_forward(*data.features, until=["reg", "da"])
    assert list(some) == ["reg", "da"]


def test_vertex_types_and_a_typed_vertex_name():
    net = _vertex_graph(MergeVertex())
    assert net.vertex_types()["v"].size == 6
    assert net.vertex_from_text("v") == "v"
    with pytest.raises(ValueError, match="no vertex named 'w'"):
        net.vertex_from_text("w")
