"""NeuralNetConfiguration -> list() / graph_builder(): defaults, type inference, validation."""

import numpy as np
import pytest

from minidl import (Activation, Adam, CnnToFeedForwardPreProcessor, ComputationGraph,
                    ConvolutionLayer, DenseLayer, FeedForwardToCnnPreProcessor, InputType,
                    LossFunction, MultiLayerNetwork, Nesterovs, NeuralNetConfiguration,
                    OutputLayer, Sgd, SubsamplingLayer, WeightDecay, WeightInit)


def _list(*layers, input_type=None, **defaults):
    builder = NeuralNetConfiguration.Builder()
    for key, value in defaults.items():
        builder = getattr(builder, key)(value)
    lb = builder.list()
    for layer in layers:
        lb = lb.layer(layer)
    if input_type is not None:
        lb = lb.set_input_type(input_type)
    return lb.build()


def _out():
    """A valid output layer (the default MCXENT loss needs a softmax; see output_validation)."""
    return OutputLayer(n_out=2, activation=Activation.SOFTMAX)


def _weight_decay_net(*weight_decay):
    builder = NeuralNetConfiguration.Builder().seed(7).updater(Sgd(0.5))
    if weight_decay:
        builder = builder.weightDecay(*weight_decay).weightDecayBias(*weight_decay)
    conf = builder.list().layer(OutputLayer(n_in=3, n_out=2, activation=Activation.IDENTITY,
                                            loss=LossFunction.MSE)).build()
    return MultiLayerNetwork(conf).init()


def test_weight_decay_keeps_dl4j_apply_lr_flag():
    layer = _weight_decay_net(1e-2, False).conf.layers[0]
    assert layer.regularization_for("W") == [WeightDecay(1e-2, apply_lr=False)]
    assert layer.regularization_for("b") == [WeightDecay(1e-2, apply_lr=False)]
    assert _weight_decay_net(1e-2).conf.layers[0].regularization_for("W") == [WeightDecay(1e-2)]
    # A layer's own weight_decay(c) means DL4J's weightDecay(c): apply_lr=True.
    conf = (NeuralNetConfiguration.Builder().weightDecay(1e-2, False).list()
            .layer(OutputLayer.Builder().nIn(3).nOut(2).weightDecay(3e-2)
                   .activation(Activation.SOFTMAX).build()).build())
    assert conf.layers[0].regularization_for("W") == [WeightDecay(3e-2, apply_lr=True)]


def test_weight_decay_without_the_learning_rate_by_hand():
    # Sgd(lr) with weight decay c: w - lr * g - c * lr * w (apply_lr) or w - lr * g - c * w.
    lr, c = 0.5, 1e-2
    x = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]], np.float32)
    y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    plain, with_lr, without_lr = _weight_decay_net(), _weight_decay_net(c), \
        _weight_decay_net(c, False)
    before = {key: w.copy() for key, w in plain.param_table().items()}
    for net in (plain, with_lr, without_lr):
        net.fit(x, y)
    for key, w in before.items():
        np.testing.assert_allclose(with_lr.get_param(key), plain.get_param(key) - c * lr * w,
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(without_lr.get_param(key), plain.get_param(key) - c * w,
                                   rtol=1e-5, atol=1e-7)


def test_weight_decay_pair_must_be_coefficient_and_flag():
    with pytest.raises(ValueError, match=r"weight_decay: expected a coefficient or "
                                         r"\(coefficient, apply_lr\), got \(0.1, 'no'\)"):
        NeuralNetConfiguration.Builder().weightDecay(0.1, "no").build()


def test_global_defaults_are_inherited_and_layer_settings_override():
    conf = _list(DenseLayer(n_out=4),
                 DenseLayer(n_out=4, activation=Activation.TANH, updater=Sgd(0.5), l2=0.0),
                 OutputLayer(n_out=2, activation=Activation.SOFTMAX),
                 input_type=InputType.feed_forward(3),
                 activation=Activation.RELU, updater=Adam(0.01), l2=1e-3,
                 weight_init=WeightInit.RELU, bias_init=0.5)
    first, second, out = conf.layers
    assert first.activation is Activation.RELU and first.updater == Adam(0.01)
    assert first.l2 == 1e-3 and first.weight_init is WeightInit.RELU and first.bias_init == 0.5
    assert second.activation is Activation.TANH and second.updater == Sgd(0.5)
    assert second.l2 == 0.0  # an explicit 0 overrides the global 1e-3
    assert out.activation is Activation.SOFTMAX and out.updater == Adam(0.01)
    # The bias updater follows the layer's updater (DL4J), unless set.
    assert second.bias_updater == Sgd(0.5) and first.bias_updater == Adam(0.01)


def test_dl4j_defaults_when_nothing_is_set():
    layer = _list(DenseLayer(n_in=3, n_out=2)).layers[0]
    assert layer.activation is Activation.SIGMOID
    assert layer.weight_init is WeightInit.XAVIER
    assert layer.updater == Sgd(1e-3) and layer.bias_init == 0.0 and layer.l2 == 0.0


def test_the_layer_objects_passed_in_are_not_changed():
    dense = DenseLayer(n_out=4)
    _list(dense, _out(), input_type=InputType.feed_forward(3),
          activation=Activation.RELU)
    assert dense.n_in is None and dense.activation is None and dense.name is None


def test_n_in_is_inferred_layer_by_layer():
    conf = _list(DenseLayer(n_out=7), DenseLayer(n_out=5), _out(),
                 input_type=InputType.feed_forward(3))
    assert [(l.n_in, l.n_out) for l in conf.layers] == [(3, 7), (7, 5), (5, 2)]


def test_first_layer_n_in_implies_the_input_type():
    conf = _list(DenseLayer(n_in=3, n_out=7), _out())
    assert conf.layers[1].n_in == 7


def test_n_in_mismatch_names_the_layer():
    with pytest.raises(ValueError, match=r"layer '1' \(DenseLayer\): n_in=6 but its input has 7"):
        _list(DenseLayer(n_out=7), DenseLayer(n_in=6, n_out=5), _out(),
              input_type=InputType.feed_forward(3))


def test_cnn_to_feed_forward_preprocessor_is_inserted():
    conf = _list(ConvolutionLayer(kernel_size=(3, 3), n_out=4),
                 SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)),
                 DenseLayer(n_out=5), _out(),
                 input_type=InputType.convolutional(10, 10, 3))
    assert conf.layers[0].n_in == 3
    assert conf.input_preprocessors == {2: CnnToFeedForwardPreProcessor(4, 4, 4)}
    assert conf.layers[2].n_in == 4 * 4 * 4  # (10-3+1)=8, pooled to 4


def test_convolutional_flat_input_gets_reshaped_for_the_first_convolution():
    conf = _list(ConvolutionLayer(kernel_size=(3, 3), n_out=2, activation=Activation.IDENTITY),
                 _out(), input_type=InputType.convolutional_flat(5, 4, 1))
    assert conf.input_preprocessors[0] == FeedForwardToCnnPreProcessor(5, 4, 1)
    assert conf.input_preprocessors[1] == CnnToFeedForwardPreProcessor(3, 2, 2)
    net = MultiLayerNetwork(conf).init()
    flat = np.arange(2 * 20, dtype=np.float32).reshape(2, 20)
    acts = net.feed_forward(flat)
    # The conv layer saw the rows of each 5x4 image, in C order.
    w, b = net.get_param("0_W"), net.get_param("0_b")
    image = flat.reshape(2, 1, 5, 4)
    expected = np.einsum("nchw,ochw->no", image[:, :, 1:4, 0:3], w) + b
    np.testing.assert_allclose(acts[1][:, :, 1, 0], expected, rtol=1e-5)


def test_convolution_fed_plain_feed_forward_data_is_an_error():
    with pytest.raises(ValueError, match=r"layer '0' \(ConvolutionLayer\): expects convolutional"):
        _list(ConvolutionLayer(kernel_size=(3, 3), n_out=2), _out(),
              input_type=InputType.feed_forward(20))


def test_missing_sizes_are_reported_at_init():
    conf = _list(DenseLayer(n_out=3), _out())  # no n_in, no input type
    with pytest.raises(ValueError, match=r"layer '0' \(DenseLayer\): n_in and n_out must be set"):
        MultiLayerNetwork(conf).init()


def test_layer_indices_must_not_have_gaps():
    builder = NeuralNetConfiguration.Builder().list().layer(0, DenseLayer(n_in=2, n_out=2)) \
        .layer(2, _out())
    with pytest.raises(ValueError, match="without gaps"):
        builder.build()


# -- graphs -----------------------------------------------------------------------------------

def _graph():
    return NeuralNetConfiguration.Builder().seed(1).graph_builder().add_inputs("in")


def test_graph_defaults_inference_and_preprocessor():
    conf = (NeuralNetConfiguration.Builder().updater(Nesterovs(0.01)).activation(Activation.RELU)
            .graph_builder().add_inputs("in")
            .add_layer("conv", ConvolutionLayer(kernel_size=(2, 2), n_out=3), "in")
            .add_layer("fc", DenseLayer(n_out=4, activation=Activation.TANH), "conv")
            .add_layer("out", _out(), "fc").set_outputs("out")
            .set_input_types(InputType.convolutional(4, 4, 2)).build())
    conv, fc = conf.vertices["conv"], conf.vertices["fc"]
    assert (conv.n_in, fc.n_in, conf.vertices["out"].n_in) == (2, 27, 4)
    assert conv.activation is Activation.RELU and fc.activation is Activation.TANH
    assert conv.updater == Nesterovs(0.01) and conv.name == "conv"
    assert conf.input_preprocessors == {"fc": CnnToFeedForwardPreProcessor(3, 3, 3)}


def test_unknown_vertex_name_lists_the_known_ones():
    builder = (_graph().add_layer("fc", DenseLayer(n_in=2, n_out=2), "in")
               .add_layer("out", _out(), "fcc").set_outputs("out"))
    with pytest.raises(ValueError, match=r"vertex 'out' takes input 'fcc', which does not exist.*"
                                         r"\['fc', 'in', 'out'\]"):
        builder.build()


def test_cycle_names_the_vertices():
    builder = (_graph().add_layer("a", DenseLayer(n_in=2, n_out=2), "in", "b")
               .add_layer("b", DenseLayer(n_in=2, n_out=2), "a")
               .add_layer("out", _out(), "b").set_outputs("out"))
    with pytest.raises(ValueError, match=r"cycle through vertices \['a', 'b', 'out'\]"):
        builder.build()


def test_layer_without_path_to_an_output():
    builder = (_graph().add_layer("fc", DenseLayer(n_in=2, n_out=2), "in")
               .add_layer("dead", DenseLayer(n_in=2, n_out=2), "fc")
               .add_layer("out", _out(), "fc").set_outputs("out"))
    with pytest.raises(ValueError, match=r"\['dead'\] have no path to any output \['out'\]"):
        builder.build()


def test_missing_inputs_outputs_and_duplicates():
    with pytest.raises(ValueError, match="no outputs"):
        _graph().add_layer("out", _out(), "in").build()
    with pytest.raises(ValueError, match="no inputs"):
        NeuralNetConfiguration.Builder().graph_builder().build()
    with pytest.raises(ValueError, match="'out' exists already"):
        _graph().add_layer("out", _out(), "in").add_layer("out", _out(), "in")
    with pytest.raises(ValueError, match=r"output 'nope' is not a vertex"):
        _graph().add_layer("out", _out(), "in").set_outputs("nope").build()
    with pytest.raises(ValueError, match="give at least one input"):
        _graph().add_layer("out", _out())


def test_graph_n_in_mismatch_names_the_layer():
    builder = (_graph().add_layer("fc", DenseLayer(n_in=5, n_out=2), "in")
               .add_layer("out", _out(), "fc").set_outputs("out")
               .set_input_types(InputType.feed_forward(3)))
    with pytest.raises(ValueError, match=r"layer 'fc' \(DenseLayer\): n_in=5 but its input has 3"):
        builder.build()


def test_topological_order_takes_ready_vertices_by_name():
    conf = (_graph().add_inputs("in2")
            .add_layer("b", DenseLayer(n_in=2, n_out=2), "in2")
            .add_layer("a", DenseLayer(n_in=2, n_out=2), "in")
            .add_layer("out", _out(), "a", "b").set_outputs("out").build())
    assert conf.topological_order() == ["in", "in2", "a", "b", "out"]  # ready: by name
    assert conf.vertices["out"].n_in == 4  # two inputs are merged: 2 + 2
    assert list(ComputationGraph(conf).init().param_table())[:2] == ["a_W", "a_b"]


def test_ancestors_are_the_named_vertices_and_everything_they_depend_on():
    # in -> a -> b -> out, in2 -> c -> out, and a -> side (not below b)
    conf = (_graph().add_inputs("in2")
            .add_layer("a", DenseLayer(n_in=2, n_out=2), "in")
            .add_layer("b", DenseLayer(n_in=2, n_out=2), "a")
            .add_layer("side", DenseLayer(n_in=2, n_out=2), "a")
            .add_layer("c", DenseLayer(n_in=2, n_out=2), "in2")
            .add_layer("out", _out(), "b", "c", "side").set_outputs("out").build())
    assert conf.ancestors(["b"]) == {"b", "a", "in"}
    assert conf.ancestors("b") == {"b", "a", "in"}  # one name need not be a list
    assert conf.ancestors(["b", "c"]) == {"b", "a", "in", "c", "in2"}
    assert conf.ancestors(["in2"]) == {"in2"}
    assert conf.ancestors(["out"]) == set(conf.known_names())
    with pytest.raises(ValueError, match=r"no vertex or input named 'bb'.*'side'"):
        conf.ancestors(["bb"])


def test_removing_an_input_takes_its_type_with_it():
    """Input types are positional: the removed input's goes, the others stay with theirs."""
    conf = (_graph().add_inputs("b")
            .set_input_types(InputType.feed_forward(2), InputType.feed_forward(3))
            .add_layer("out", _out(), "b").remove_vertex("in", False)
            .set_outputs("out").build())
    assert conf.network_inputs == ["b"] and conf.input_types == [InputType.feed_forward(3)]
    assert conf.vertices["out"].n_in == 3


def test_more_input_types_than_inputs_are_refused():
    builder = (_graph().set_input_types(InputType.feed_forward(3), InputType.feed_forward(3))
               .add_layer("out", _out(), "in").set_outputs("out"))
    with pytest.raises(ValueError, match=r"set_input_types: 2 input types .* for 1 network "
                                         r"inputs \['in'\]; give one type per input"):
        builder.build()
