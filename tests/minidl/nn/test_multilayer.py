"""MultiLayerNetwork: learning, determinism, parameters API, gradients, clear errors."""

import numpy as np
import pytest

from conftest import assert_network_gradients, bars, two_spirals
from devices import host
from minidl.backend import to_device
from minidl import (Activation, Adam, ConvolutionLayer, DataSet, DenseLayer, InputType,
                    ListDataSetIterator, LossFunction, MultiLayerNetwork, Nesterovs,
                    NeuralNetConfiguration, OutputLayer, PoolingType, Sgd, SubsamplingLayer)


def _accuracy(net, ds):
    return float((host(net.output(ds.features)).argmax(1) == ds.labels.argmax(1)).mean())


def _spiral_net(seed=1):
    conf = (NeuralNetConfiguration.Builder().seed(seed).updater(Adam(0.05))
            .activation(Activation.TANH).list()
            .layer(DenseLayer(n_out=64)).layer(DenseLayer(n_out=64))
            .layer(OutputLayer(n_out=2, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT))
            .set_input_type(InputType.feed_forward(2)).build())
    return MultiLayerNetwork(conf).init()


def _small(seed=3, updater=None, dtype="float32", dropout=None):
    builder = NeuralNetConfiguration.Builder().seed(seed).data_type(dtype) \
        .updater(updater or Nesterovs(0.1))
    if dropout:
        builder = builder.dropout(dropout)
    conf = (builder.list()
            .layer(DenseLayer(n_out=5, activation=Activation.TANH, name="hidden"))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX, name="out"))
            .set_input_type(InputType.feed_forward(4)).build())
    return MultiLayerNetwork(conf).init()


def _data(seed=0, n=8, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return DataSet(rng.normal(size=(n, 4)).astype(dtype),
                   np.eye(3, dtype=dtype)[rng.integers(0, 3, n)])


# -- learning ---------------------------------------------------------------------------------

def test_mlp_learns_two_spirals(device):
    train, test = two_spirals(100, seed=0), two_spirals(100, seed=1)
    net = _spiral_net()
    assert _accuracy(net, train) < 0.8  # not solved before training
    for _ in range(300):  # solved by 200 for seeds 1-3
        net.fit(train)
    assert _accuracy(net, train) >= 0.95
    assert _accuracy(net, test) >= 0.95


def test_cnn_learns_horizontal_versus_vertical_bars(device):
    train, test = bars(64, seed=0), bars(200, seed=1)
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Adam(0.01)).list()
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=4, activation=Activation.RELU))
            .layer(SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)))
            .layer(OutputLayer(n_out=2, activation=Activation.SOFTMAX))
            .set_input_type(InputType.convolutional(8, 8, 1)).build())
    net = MultiLayerNetwork(conf).init()
    net.fit(ListDataSetIterator(train, batch_size=16), epochs=15)
    assert net.epoch_count == 15 and net.iteration_count == 60
    assert _accuracy(net, test) >= 0.9


# -- determinism ------------------------------------------------------------------------------

def test_same_seed_same_params_and_same_trajectory(device):
    a, b = _small(seed=11, dropout=0.8), _small(seed=11, dropout=0.8)
    np.testing.assert_array_equal(host(a.params()), host(b.params()))
    scores_a = [a.fit(_data(i)) for i in range(5)]
    scores_b = [b.fit(_data(i)) for i in range(5)]
    assert scores_a == scores_b
    np.testing.assert_array_equal(host(a.params()), host(b.params()))
    assert not np.array_equal(host(_small(seed=12).params()), host(_small(seed=11).params()))


# -- parameters -------------------------------------------------------------------------------

def test_params_layout_and_tables(device):
    net = _small()
    table = host(net.param_table())
    assert list(table) == ["0_W", "0_b", "1_W", "1_b"]
    assert [a.shape for a in table.values()] == [(4, 5), (5,), (5, 3), (3,)]
    flat = host(net.params())
    assert flat.shape == (4 * 5 + 5 + 5 * 3 + 3,) == (net.num_params(),)
    np.testing.assert_array_equal(flat[:20], table["0_W"].ravel())
    np.testing.assert_array_equal(flat[25:40], table["1_W"].ravel())
    np.testing.assert_array_equal(host(net.get_param("1_b")), table["1_b"])
    assert net.paramTable().keys() == table.keys() and net.numParams() == 43


def test_params_is_a_copy_and_set_params_writes_back(device):
    net = _small()
    flat = net.params()
    flat[:] = 0
    assert np.abs(host(net.get_param("0_W"))).sum() > 0
    new = np.arange(net.num_params(), dtype=np.float32)
    net.set_params(new)
    np.testing.assert_array_equal(host(net.params()), new)
    np.testing.assert_array_equal(host(net.get_param("0_b")), np.arange(20, 25))
    net.set_params(to_device(new[::-1].copy()))  # a flat vector on the device works too
    np.testing.assert_array_equal(host(net.params()), new[::-1])


def test_set_param_checks_the_shape_and_key(device):
    net = _small()
    net.set_param("1_b", np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(host(net.get_param("1_b")), [1, 2, 3])
    with pytest.raises(ValueError, match=r"set_param\('1_b'\): expected shape \(3,\), got \(4,\)"):
        net.set_param("1_b", np.zeros(4))
    with pytest.raises(KeyError, match="no parameter '2_W'.*0_W"):
        net.get_param("2_W")
    with pytest.raises(ValueError, match="set_params: expected 43 values, got 42"):
        net.set_params(np.zeros(42))


def test_clone_is_independent(device):
    net = _small(updater=Adam(0.01))
    net.fit(_data())
    copy = net.clone()
    assert copy.device == device
    np.testing.assert_array_equal(host(copy.params()), host(net.params()))
    assert copy.iteration_count == 1 and copy.conf == net.conf and copy.conf is not net.conf
    # Identical next step (updater state copied), then independent.
    assert copy.fit(_data(1)) == net.fit(_data(1))
    np.testing.assert_array_equal(host(copy.params()), host(net.params()))
    copy.set_param("0_W", np.zeros((4, 5)))
    assert np.abs(host(net.get_param("0_W"))).sum() > 0
    copy.conf.layers[0].n_out = 99
    assert net.conf.layers[0].n_out == 5


def test_layers_by_index_and_name_and_sizes():
    net = _small()
    assert net.get_layer(0) is net.get_layer("hidden") and net.get_layer(-1).name == "out"
    assert net.layer_size(0) == 5 and net.layer_input_size(0) == 4
    assert net.layerSize(1) == 3 and net.layerInputSize("out") == 5
    assert net.get_n_layers() == 2
    with pytest.raises(IndexError, match="layer index 2 out of range: the network has 2 layers"):
        net.get_layer(2)
    with pytest.raises(KeyError, match=r"no layer named 'fc'; layers: \['hidden', 'out'\]"):
        net.get_layer("fc")


# -- forward, score, evaluate -----------------------------------------------------------------

def test_feed_forward_output_and_score_by_hand(device):
    net = _small(dtype="float64")
    ds = _data(dtype=np.float64)
    acts = host(net.feed_forward(ds.features))
    w0, b0, w1, b1 = (host(net.get_param(k)) for k in ("0_W", "0_b", "1_W", "1_b"))
    hidden = np.tanh(ds.features @ w0 + b0)
    z = hidden @ w1 + b1
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert len(acts) == 3
    np.testing.assert_allclose(acts[0], ds.features)
    np.testing.assert_allclose(acts[1], hidden, rtol=1e-12)
    np.testing.assert_allclose(acts[2], probs, rtol=1e-12)
    np.testing.assert_allclose(host(net.output(ds.features)), probs, rtol=1e-12)
    np.testing.assert_allclose(host(net.output(to_device(ds.features))), probs, rtol=1e-12)
    np.testing.assert_allclose(host(net.feed_forward_to_layer(0, ds.features)[-1]), hidden,
                               rtol=1e-12)
    loss = -np.sum(ds.labels * np.log(probs)) / len(probs)
    np.testing.assert_allclose(net.score(ds), loss, rtol=1e-12)


def test_score_includes_l2(device):
    conf = (NeuralNetConfiguration.Builder().data_type("float64").l2(0.1).list()
            .layer(OutputLayer(n_in=4, n_out=3, activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    plain = MultiLayerNetwork(conf.clone()).init()
    plain.conf.layers[0].l2 = 0.0
    ds = _data(dtype=np.float64)
    w = host(net.get_param("0_W"))
    # DL4J's L2 score: 0.5 * l2 * sum(W^2) (biases: l2_bias, 0 here).
    np.testing.assert_allclose(net.score(ds) - plain.score(ds), 0.05 * np.sum(w * w), rtol=1e-10)


def test_evaluate_counts_correct_predictions(device):
    net = _small()
    ds = _data(n=30)
    evaluation = net.evaluate(ListDataSetIterator(ds, batch_size=7))
    predicted = host(net.output(ds.features)).argmax(1)
    assert evaluation.accuracy() == pytest.approx(np.mean(predicted == ds.labels.argmax(1)))
    expected = np.zeros((3, 3), int)
    np.add.at(expected, (ds.labels.argmax(1), predicted), 1)
    np.testing.assert_array_equal(evaluation.get_confusion_matrix(), expected)


def _identity_softmax_net():
    """One softmax output layer with W = I and b = 0: the class is the largest input."""
    conf = (NeuralNetConfiguration.Builder().list()
            .layer(OutputLayer(n_in=3, n_out=3, activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    net.set_param("0_W", np.eye(3))
    net.set_param("0_b", np.zeros(3))
    return net


def test_predict_is_the_class_index_per_example(device):
    x = to_device(np.array([[3, 1, 2], [0, 5, 1], [1, 2, 9], [-1, -3, -2]], np.float32))
    classes = _identity_softmax_net().predict(x)
    assert isinstance(classes, np.ndarray) and classes.dtype.kind == "i"  # DL4J: int[]
    np.testing.assert_array_equal(classes, [0, 1, 2, 0])


def test_predict_on_a_dataset_gives_label_names(device):
    data = DataSet(to_device(np.array([[0, 0, 1], [1, 0, 0]], np.float32)),
                   to_device(np.eye(3, dtype=np.float32)[:2]))
    net = _identity_softmax_net()
    with pytest.raises(ValueError, match=r"this DataSet has none \(set_label_names\)"):
        net.predict(data)
    data.set_label_names(["cat", "dog", "bird"])
    assert net.predict(data) == ["bird", "cat"]


def test_predict_needs_a_two_dimensional_output():
    conf = (NeuralNetConfiguration.Builder().list()
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=2))
            .set_input_type(InputType.convolutional(4, 4, 1)).build())
    net = MultiLayerNetwork(conf).init()
    with pytest.raises(ValueError, match=r"predict: needs an output of shape \[batch, classes\]; "
                                         r"the last layer '0' \(ConvolutionLayer\) gives "
                                         r"\(1, 2, 2, 2\)"):
        net.predict(np.zeros((1, 1, 4, 4), np.float32))


def test_inference_keeps_one_activation_at_a_time():
    """output() lets each activation go once the next layer has read it, so a deep network's
    inference holds one or two activations, not all of them."""
    import weakref

    conf = (NeuralNetConfiguration.Builder().list()
            .layer(DenseLayer(n_out=5)).layer(DenseLayer(n_out=5))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    net = MultiLayerNetwork(conf).init()
    seen = []
    real = net._layer_input

    def spy(name, acts):
        x = real(name, acts)
        seen.append((name, weakref.ref(x), [ref() is not None for _, ref, _ in seen]))
        return x
    net._layer_input = spy
    out = net.output(_data().features)
    # when layer i reads its input, no earlier layer's input is alive any more
    assert [(i, alive) for i, _, alive in seen] == [("0", []), ("1", [False]),
                                                    ("2", [False, False])]
    assert all(ref() is None for _, ref, _ in seen)  # nor afterwards
    assert out.shape == (8, 3)


def test_fit_with_arrays_dataset_and_iterator_agree(device):
    ds = _data(n=8)
    a, b, c, d = _small(), _small(), _small(), _small()
    a.fit(ds.features, ds.labels)
    b.fit(ds)
    c.fit(ListDataSetIterator(ds, batch_size=8))
    d.fit(to_device(ds.features), to_device(ds.labels))  # a batch already on the device
    for other in (b, c, d):
        np.testing.assert_array_equal(host(a.params()), host(other.params()))


def test_sgd_step_by_hand(device):
    conf = (NeuralNetConfiguration.Builder().data_type("float64").updater(Sgd(0.5)).list()
            .layer(OutputLayer(n_in=4, n_out=3, activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    ds = _data(dtype=np.float64)
    w, b = host(net.get_param("0_W")).copy(), host(net.get_param("0_b")).copy()
    z = ds.features @ w + b
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    gz = (p - ds.labels) / len(p)
    net.fit(ds)
    np.testing.assert_allclose(host(net.get_param("0_W")), w - 0.5 * ds.features.T @ gz,
                               rtol=1e-10)
    np.testing.assert_allclose(host(net.get_param("0_b")), b - 0.5 * gz.sum(0), rtol=1e-10)


# -- gradients --------------------------------------------------------------------------------

def test_float64_end_to_end(device):
    net = _small(dtype="float64")
    assert all(a.dtype == np.float64 for a in net.param_table().values())
    ds = _data(dtype=np.float64)
    assert net.output(ds.features).dtype == np.float64
    net.fit(ds)
    assert all(a.dtype == np.float64 for a in net.param_table().values())


def test_mlp_gradient_matches_numerical(device):
    conf = (NeuralNetConfiguration.Builder().seed(4).data_type("float64").list()
            .layer(DenseLayer(n_out=5, activation=Activation.TANH))
            .layer(DenseLayer(n_out=4, activation=Activation.SIGMOID))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT))
            .set_input_type(InputType.feed_forward(4)).build())
    net = MultiLayerNetwork(conf).init()
    assert_network_gradients(net, _data(dtype=np.float64, n=6))


def test_mse_output_gradient_matches_numerical(device):
    conf = (NeuralNetConfiguration.Builder().seed(4).data_type("float64").list()
            .layer(DenseLayer(n_out=5, activation=Activation.RELU))
            .layer(OutputLayer(n_out=2, activation=Activation.IDENTITY, loss=LossFunction.MSE))
            .set_input_type(InputType.feed_forward(4)).build())
    net = MultiLayerNetwork(conf).init()
    rng = np.random.default_rng(0)
    assert_network_gradients(net, DataSet(rng.normal(size=(5, 4)), rng.normal(size=(5, 2))))


def test_cnn_gradient_matches_numerical(device):
    conf = (NeuralNetConfiguration.Builder().seed(2).data_type("float64").list()
            .layer(ConvolutionLayer(kernel_size=(2, 2), n_out=2, activation=Activation.TANH))
            .layer(SubsamplingLayer(pooling_type=PoolingType.AVG, kernel_size=(2, 2), stride=(1, 1)))
            .layer(OutputLayer(n_out=2, activation=Activation.SOFTMAX))
            .set_input_type(InputType.convolutional(4, 4, 2)).build())
    net = MultiLayerNetwork(conf).init()
    rng = np.random.default_rng(1)
    assert_network_gradients(net, DataSet(rng.normal(size=(3, 2, 4, 4)), np.eye(2)[[0, 1, 1]]))


# -- bad input --------------------------------------------------------------------------------

def test_wrong_feature_shape_names_the_first_layer(device):
    net = _small()
    with pytest.raises(ValueError, match=r"layer 'hidden' \(DenseLayer\): expected input "
                                         r"\[batch, 4\], got shape \(8, 3\)"):
        net.output(np.zeros((8, 3), np.float32))
    with pytest.raises(ValueError, match=r"layer 'hidden' \(DenseLayer\)"):
        net.fit(DataSet(np.zeros((8, 3), np.float32), np.zeros((8, 3), np.float32)))


def test_labels_with_wrong_number_of_classes_name_the_output_layer(device):
    net = _small()
    with pytest.raises(ValueError, match=r"layer 'out' \(OutputLayer\): labels of shape \(8, 2\) "
                                         r"do not match the output of shape \(8, 3\)"):
        net.fit(DataSet(np.zeros((8, 4), np.float32), np.zeros((8, 2), np.float32)))


def test_fit_without_an_output_layer():
    conf = (NeuralNetConfiguration.Builder().list().layer(DenseLayer(n_in=4, n_out=3)).build())
    net = MultiLayerNetwork(conf).init()
    with pytest.raises(ValueError, match=r"last layer '0' \(DenseLayer\) is not an output layer"):
        net.fit(_data())


def test_uninitialised_network():
    net = MultiLayerNetwork(_small().conf)
    with pytest.raises(RuntimeError, match=r"call init\(\) first"):
        net.output(np.zeros((1, 4)))


def test_wrong_configuration_type():
    with pytest.raises(TypeError, match="MultiLayerNetwork needs a MultiLayerConfiguration"):
        MultiLayerNetwork(NeuralNetConfiguration())


def test_activate_selected_layers_is_a_slice_of_feed_forward():
    """DL4J's activateSelectedLayers(from, to, input): ``input`` goes into layer ``from``."""
    from minidl import DenseLayer, MultiLayerNetwork, NeuralNetConfiguration, OutputLayer
    conf = (NeuralNetConfiguration.Builder().seed(3).list()
            .layer(DenseLayer(n_in=4, n_out=5)).layer(DenseLayer(n_in=5, n_out=6))
            .layer(OutputLayer(n_in=6, n_out=2, activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    acts = net.feed_forward(x)  # [x, a0, a1, a2]
    np.testing.assert_array_equal(net.activate_selected_layers(0, 1, x), acts[2])
    np.testing.assert_array_equal(net.activate_selected_layers(1, 2, acts[1]), acts[3])
    with pytest.raises(IndexError, match="need 0 <= from <= to < 3"):
        net.activate_selected_layers(2, 1, x)


def test_vertex_types_and_a_typed_layer_index():
    conf = (NeuralNetConfiguration.Builder().list()
            .layer(DenseLayer(n_out=5)).layer(DenseLayer(n_out=6))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    net = MultiLayerNetwork(conf).init()
    assert {k: t.size for k, t in net.vertex_types().items()} == {"input": 4, "0": 5, "1": 6, "2": 3}
    assert net.vertex_from_text("1") == 1
    for text in ("2", "x", "-1"):  # the output layer, a name, a negative index
        with pytest.raises(ValueError, match=r"layer index 0\.\.1"):
            net.vertex_from_text(text)
