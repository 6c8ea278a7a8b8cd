"""What both network types share: summary, frozen layers, per-layer updaters, normalisation."""

import numpy as np
import pytest

from devices import devices_of, host
from minidl import (Activation, Adam, BatchNormalization, CollectScoresListener,
                    ComputationGraph, DataSet, DenseLayer, ExistingDataSetIterator, FrozenLayer,
                    GradientNormalization, InputType, ListDataSetIterator,
                    ListMultiDataSetIterator, MergeVertex, MultiDataSet, MultiLayerNetwork,
                    Nesterovs, NeuralNetConfiguration, NoOp, OutputLayer, Sgd)


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return DataSet(rng.normal(size=(n, 4)).astype(np.float32),
                   np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)])


def _frozen_mlp():
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).list()
            .layer(FrozenLayer(DenseLayer(n_out=5, activation=Activation.TANH, dropout=0.5)))
            .layer(BatchNormalization())
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    return MultiLayerNetwork(conf).init()


def test_summary_lists_layers_and_totals_with_frozen_params():
    net = _frozen_mlp()
    text = net.summary()
    assert "0 (FrozenLayer<DenseLayer>)" in text and "4,5" in text and "W:(4, 5), b:(5,)" in text
    assert "1 (BatchNormalization)" in text and "2 (OutputLayer)" in text
    # 25 frozen; 20 in batch norm (its running statistics count as trainable, as in DL4J); 18.
    assert "Total Parameters:  63" in text
    assert "Trainable Parameters:  38" in text
    assert "Frozen Parameters:  25" in text


def test_graph_summary_shows_vertex_inputs():
    conf = (NeuralNetConfiguration.Builder().graph_builder().add_inputs("a", "b")
            .add_vertex("m", MergeVertex(), "a", "b")
            .add_layer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "m")
            .set_outputs("out")
            .set_input_types(InputType.feed_forward(2), InputType.feed_forward(3)).build())
    lines = ComputationGraph(conf).init().summary().splitlines()
    assert any(l.startswith("m (MergeVertex)") and l.rstrip().endswith("a, b") for l in lines)
    assert any(l.startswith("out (OutputLayer)") and "5,2" in l and "12" in l for l in lines)
    assert any(l.startswith("a (InputVertex)") for l in lines)


def test_frozen_layer_does_not_change_and_trains_the_rest(device):
    net = _frozen_mlp()
    frozen_before = host(net.get_param("0_W")).copy()
    out_before = host(net.get_param("2_W")).copy()
    for i in range(3):
        net.fit(_data(seed=i))
    np.testing.assert_array_equal(host(net.get_param("0_W")), frozen_before)
    assert not np.allclose(host(net.get_param("2_W")), out_before)
    assert ("0", "W") not in net.updater_state and ("2", "W") in net.updater_state
    assert sorted(net.param_table(backprop_params_only=True)) == \
        ["1_beta", "1_gamma", "2_W", "2_b"]


def test_frozen_layer_gets_no_gradient(device):
    grads, _ = _frozen_mlp().compute_gradient_and_score(_data())
    assert sorted(grads) == ["1_beta", "1_gamma", "2_W", "2_b"]


def test_per_layer_updater_overrides_the_global_one(device):
    conf = (NeuralNetConfiguration.Builder().data_type("float64").updater(Sgd(0.5)).list()
            .layer(DenseLayer(n_out=3, updater=NoOp(), bias_updater=Sgd(0.0)))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    net = MultiLayerNetwork(conf).init()
    data = _data()
    data = DataSet(data.features.astype(np.float64), data.labels.astype(np.float64))
    grads, _ = host(net.clone().compute_gradient_and_score(data))
    before = {k: v.copy() for k, v in host(net.param_table()).items()}
    net.fit(data)
    after = host(net.param_table())
    np.testing.assert_allclose(after["0_W"], before["0_W"] - grads["0_W"], rtol=1e-10)  # NoOp
    np.testing.assert_array_equal(after["0_b"], before["0_b"])  # bias updater lr 0
    np.testing.assert_allclose(after["1_W"], before["1_W"] - 0.5 * grads["1_W"], rtol=1e-10)


def test_gradient_normalisation_clips_elementwise(device):
    conf = (NeuralNetConfiguration.Builder().data_type("float64").updater(Sgd(1.0)).list()
            .layer(OutputLayer(n_in=4, n_out=3, activation=Activation.SOFTMAX,
                               gradient_normalization=GradientNormalization.ClipElementWiseAbsoluteValue,
                               gradient_normalization_threshold=0.01))
            .build())
    net = MultiLayerNetwork(conf).init()
    data = _data()
    grads, _ = host(net.clone().compute_gradient_and_score(data))
    assert np.abs(grads["0_W"]).max() > 0.01
    before = host(net.get_param("0_W")).copy()
    net.fit(data)
    np.testing.assert_allclose(before - host(net.get_param("0_W")),
                               np.clip(grads["0_W"], -0.01, 0.01), rtol=1e-6, atol=1e-9)


def test_compute_gradient_and_score_does_not_change_parameters(device):
    net = _frozen_mlp()
    before = host(net.params())
    grads, score = net.compute_gradient_and_score(_data())
    np.testing.assert_array_equal(host(net.params())[:25], before[:25])
    np.testing.assert_array_equal(host(net.params())[45:], before[45:])  # output layer untouched
    assert score == pytest.approx(net.score(_data(), training=True), rel=1e-5)
    assert net.iteration_count == 0


def test_fit_epochs_over_an_iterator_counts_iterations_and_epochs(device):
    net = _frozen_mlp()
    net.fit(ListDataSetIterator(_data(n=20), batch_size=8), epochs=2)
    assert net.iteration_count == 6 and net.epoch_count == 2


def _adam_mlp():
    conf = (NeuralNetConfiguration.Builder().seed(2).updater(Adam(0.05)).list()
            .layer(DenseLayer(n_out=5, activation=Activation.TANH))
            .layer(BatchNormalization())
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    return MultiLayerNetwork(conf).init()


def test_to_moves_parameters_and_updater_state_and_keeps_outputs(device):
    # On the cpu case every move is a no-op; the gpu cases cross the host/device line.
    net = _adam_mlp().to("cpu")
    net.fit(_data())
    assert devices_of(net) == {"cpu"} and net.updater_state
    x = _data(seed=1).features
    on_host = host(net.output(x)).copy()

    assert net.to(device) is net
    assert devices_of(net) == {device} and net.device == device
    np.testing.assert_allclose(host(net.output(x)), on_host, rtol=1e-5)
    net.fit(_data(seed=2))  # trains where it was moved to, Adam's state with it
    assert devices_of(net) == {device}
    reference = net.clone()
    assert devices_of(reference) == {device}

    trained = host(net.output(x)).copy()
    net.to("cpu")
    assert devices_of(net) == {"cpu"} and net.device == "cpu"
    assert devices_of(net.clone()) == {"cpu"}  # a copy stays where the original is
    np.testing.assert_allclose(host(net.output(x)), trained, rtol=1e-5)
    net.to(device)
    np.testing.assert_array_equal(host(net.output(x)), trained)  # the round trip is exact
    assert net.fit(_data(seed=3)) == reference.fit(_data(seed=3))
    np.testing.assert_array_equal(host(net.params()), host(reference.params()))


def test_unsupported_optimization_algorithm_is_refused():
    from minidl import OptimizationAlgorithm
    conf = (NeuralNetConfiguration.Builder().optimization_algo(OptimizationAlgorithm.LBFGS).list()
            .layer(OutputLayer(n_in=4, n_out=3, activation=Activation.SOFTMAX)).build())
    with pytest.raises(NotImplementedError, match="LBFGS is not implemented"):
        MultiLayerNetwork(conf).init().fit(_data())


# -- fit's arguments, as DL4J's overloads read them -------------------------------------------

def _adam_graph():
    conf = (NeuralNetConfiguration.Builder().seed(2).updater(Adam(0.05)).graph_builder()
            .add_inputs("a", "b")
            .add_vertex("m", MergeVertex(), "a", "b")
            .add_layer("out", OutputLayer(n_out=3, activation=Activation.SOFTMAX), "m")
            .set_outputs("out")
            .set_input_types(InputType.feed_forward(1), InputType.feed_forward(3)).build())
    return ComputationGraph(conf).init()


def _one_input_graph():
    conf = (NeuralNetConfiguration.Builder().seed(2).updater(Adam(0.05)).graph_builder()
            .add_inputs("in")
            .add_layer("out", OutputLayer(n_out=3, activation=Activation.SOFTMAX), "in")
            .set_outputs("out").set_input_types(InputType.feed_forward(4)).build())
    return ComputationGraph(conf).init()


def _graph_data(n=8, seed=0):
    data = _data(n, seed)
    return MultiDataSet([data.features[:, :1], data.features[:, 1:]], [data.labels])


@pytest.mark.parametrize("make_net, make_iterator", [
    (_adam_mlp, lambda: ListDataSetIterator(_data(n=20), batch_size=8)),
    (_one_input_graph, lambda: ListDataSetIterator(_data(n=20), batch_size=8)),
    (_adam_graph, lambda: ListMultiDataSetIterator(_graph_data(n=20), batch_size=8)),
], ids=["mln", "graph-dataset-iterator", "graph-multi-dataset-iterator"])
def test_an_int_after_an_iterator_is_the_number_of_epochs(make_net, make_iterator, device):
    """DL4J's fit(DataSetIterator, int numEpochs) / fit(MultiDataSetIterator, int numEpochs):
    the same as fitting one epoch twice."""
    net, reference = make_net(), make_net()
    net.fit(make_iterator(), 2)
    reference.fit(make_iterator())
    reference.fit(make_iterator())
    assert net.epoch_count == 2 and net.iteration_count == 6
    np.testing.assert_array_equal(host(net.params()), host(reference.params()))
    net.fit(make_iterator(), epochs=1)
    assert net.epoch_count == 3


@pytest.mark.parametrize("make_net, data", [(_adam_mlp, _data()), (_adam_graph, _graph_data())],
                         ids=["mln", "graph"])
def test_an_int_after_a_dataset_repeats_the_iteration(make_net, data, device):
    net, reference = make_net(), make_net()
    net.fit(data, 3)
    for _ in range(3):
        reference.fit(data)
    assert net.iteration_count == 3 and net.epoch_count == 0  # one minibatch is no epoch
    np.testing.assert_array_equal(host(net.params()), host(reference.params()))


def test_features_and_labels_still_fit_one_iteration(device):
    mln, graph, data, graph_data = _adam_mlp(), _adam_graph(), _data(), _graph_data()
    reference_mln, reference_graph = _adam_mlp(), _adam_graph()
    mln.fit(data.features, data.labels)
    graph.fit(graph_data.features, graph_data.labels)  # fit(INDArray[] inputs, INDArray[] labels)
    reference_mln.fit(data)
    reference_graph.fit(graph_data)
    np.testing.assert_array_equal(host(mln.params()), host(reference_mln.params()))
    np.testing.assert_array_equal(host(graph.params()), host(reference_graph.params()))


@pytest.mark.parametrize("call, error, message", [
    (lambda net, d: net.fit(d.features, 2), TypeError,
     r"fit\(ndarray, 2\): labels must be an array"),
    (lambda net, d: net.fit(d.features), TypeError, r"features need their labels"),
    (lambda net, d: net.fit(d, d.labels), TypeError, r"a DataSet carries its own labels"),
    (lambda net, d: net.fit(ListDataSetIterator(d, 4), d.labels), TypeError,
     r"ListDataSetIterator carries its own labels"),
    (lambda net, d: net.fit(ListDataSetIterator(d, 4), 2, epochs=2), TypeError,
     r"epochs is given twice"),
    (lambda net, d: net.fit(ListDataSetIterator(d, 4), 0), ValueError,
     r"must be a positive integer, got 0"),
    (lambda net, d: net.fit(d, epochs=1.5), ValueError, r"positive integer, got 1.5"),
    (lambda net, d: net.fit(iter([d, d]), 2), ValueError,
     r"2 epochs need an iterator that can start again"),
    (lambda net, d: net.fit([d.features]), TypeError, r"features need their labels"),
])
def test_fit_arguments_that_mean_nothing_clear_raise(call, error, message):
    net = _adam_mlp()
    before = host(net.params()).copy()
    with pytest.raises(error, match=message):
        call(net, _data())
    np.testing.assert_array_equal(host(net.params()), before)  # refused before training
    assert net.iteration_count == 0


def test_a_generator_of_datasets_fits_one_epoch():
    net = _adam_mlp()
    net.fit(_data(n=4, seed=i) for i in range(3))
    assert net.iteration_count == 3 and net.epoch_count == 1


def test_a_graph_given_a_count_after_its_arrays_raises():
    data = _graph_data()
    with pytest.raises(TypeError, match=r"fit\(list, 3\): labels must be an array"):
        _adam_graph().fit(data.features, 3)


# -- listeners and counters -------------------------------------------------------------------

def test_add_listeners_appends_and_set_listeners_replaces(device):
    first, second, third = CollectScoresListener(), CollectScoresListener(), CollectScoresListener()
    net = _adam_mlp()
    net.set_listeners(first)
    net.add_listeners(second)
    net.addListeners([third])  # DL4J spelling, a list
    assert net.get_listeners() == [first, second, third]
    net.fit(_data())
    assert len(first.scores) == len(second.scores) == len(third.scores) == 1
    net.setListeners(second)
    assert net.getListeners() == [second]
    net.fit(_data())
    assert len(first.scores) == 1 and len(second.scores) == 2
    net.set_listeners(None)  # DL4J's setListeners(null) clears
    assert net.get_listeners() == []


def test_iteration_and_epoch_counts(device):
    net = _adam_graph()
    assert (net.get_iteration_count(), net.get_epoch_count()) == (0, 0)
    net.fit(ListMultiDataSetIterator(_graph_data(n=12), batch_size=4), 2)
    net.fit(_graph_data())
    assert net.get_iteration_count() == 7 and net.getEpochCount() == 2


# -- save and load ----------------------------------------------------------------------------

@pytest.mark.parametrize("network_class, make_net, data", [
    (MultiLayerNetwork, _adam_mlp, _data()), (ComputationGraph, _adam_graph, _graph_data())],
    ids=["mln", "graph"])
def test_save_and_load_round_trip(network_class, make_net, data, tmp_path, device):
    net = make_net()
    net.fit(data)
    net.save(tmp_path / "model.zip")  # DL4J's save(File): the updater too
    restored = network_class.load(tmp_path / "model.zip", True)
    assert type(restored) is network_class
    np.testing.assert_array_equal(host(restored.params()), host(net.params()))
    assert sorted(restored.updater_state) == sorted(net.updater_state)
    assert restored.fit(data) == pytest.approx(net.fit(data), rel=1e-6)  # Adam continues alike

    net.save(tmp_path / "no-updater.zip", save_updater=False)
    assert network_class.load(tmp_path / "no-updater.zip").updater_state == {}
    assert network_class.load(tmp_path / "model.zip", load_updater=False).updater_state == {}


def test_load_names_the_other_network_type(tmp_path):
    _adam_graph().save(tmp_path / "graph.zip")
    with pytest.raises(ValueError, match="holds a ComputationGraph, not a MultiLayerNetwork"):
        MultiLayerNetwork.load(tmp_path / "graph.zip", False)


@pytest.mark.parametrize("make_net", [_adam_mlp, _one_input_graph], ids=["mln", "graph"])
def test_a_second_init_keeps_the_parameters(make_net):
    """DL4J's init() returns at once when the network is initialised: a ported script that
    calls init() after training (or after restoring a model) must not lose its weights."""
    net = make_net()
    net.fit(_data())
    trained = net.params()
    assert net.init() is net
    np.testing.assert_array_equal(net.params(), trained)
    # given parameters are copied in (where DL4J would silently ignore them)
    net.init(np.zeros_like(trained))
    assert not net.params().any()


# -- evaluate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make_net", [_adam_mlp, _one_input_graph], ids=["mln", "graph"])
def test_evaluate_takes_the_class_names_from_the_iterator(make_net, device):
    """DL4J's evaluate(iterator): labelsList == null -> labelsList = iterator.getLabels()."""
    net, data = make_net(), _data(n=9)
    data.set_label_names(["cat", "dog", "fish"])
    iterator = ListDataSetIterator(data, batch_size=4)
    assert iterator.get_labels() == ["cat", "dog", "fish"]
    evaluation = net.evaluate(iterator)
    assert evaluation.labels_list == ["cat", "dog", "fish"]
    assert "0 = 0" not in evaluation.stats() and "cat" in evaluation.stats()
    assert net.evaluate(data).labels_list == ["cat", "dog", "fish"]  # one DataSet: its names
    given = net.evaluate(iterator, ["a", "b", "c"])                  # given names win
    assert given.labels_list == ["a", "b", "c"]
    assert evaluation.get_confusion_matrix().sum() == 9
    data.set_label_names(None)
    assert net.evaluate(ListDataSetIterator(data, batch_size=4)).labels_list == ["0", "1", "2"]


def test_a_one_pass_iterator_can_be_evaluated():
    """evaluate() starts an iterator over only when it can be (as fit() does): a one-pass
    iterator over a generator is evaluated as it comes."""
    from minidl.data import ExistingDataSetIterator
    net, data = _adam_mlp(), _data(n=8)
    one_pass = ExistingDataSetIterator(batch for batch in data.batch_by(4))
    assert not one_pass.reset_supported()
    expected = net.evaluate(data).accuracy()
    assert net.evaluate(one_pass).accuracy() == expected


def _head(seed=3, updater=None):
    conf = (NeuralNetConfiguration.Builder().seed(seed).updater(updater or Sgd(0.1)).list()
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    return MultiLayerNetwork(conf).init()


@pytest.mark.parametrize("device", ["gpu-emulated"], indirect=True)
def test_fit_waits_for_the_gpu_only_when_the_score_is_read(device):
    from emulated_gpu.fake_cupy import HostReads

    batches = [_data(8, seed) for seed in range(5)]
    net = _head()
    start = HostReads.count
    net.fit(ExistingDataSetIterator(batches))  # five steps queued; fit's return reads the last
    assert HostReads.count - start == 1
    score = net.score()
    assert HostReads.count - start == 1  # read once, kept
    cpu = _head().to("cpu")
    cpu.fit(ExistingDataSetIterator(batches))
    assert score == pytest.approx(cpu.score(), rel=1e-6)

    listened = _head()
    listened.set_listeners(CollectScoresListener(1))  # a listener reads every step's score
    start = HostReads.count
    listened.fit(ExistingDataSetIterator(batches))
    assert HostReads.count - start == len(batches)


@pytest.mark.parametrize("updater", [Sgd(0.1), Nesterovs(0.1, 0.9), Adam(1e-2)],
                         ids=lambda u: type(u).__name__)
@pytest.mark.parametrize("device", ["gpu-emulated"], indirect=True)
def test_a_small_heads_training_step_launches_few_kernels(device, updater):
    """A softmax head's step (fit_featurized's): forward GEMM, bias, the fused softmax +
    cross-entropy, its backward, two gradient GEMMs (the bias's by a GEMM with a kept vector of
    ones), the loss's seed, and one fused updater step for each of W and b: 9 launches whatever
    the updater (Adam's formula alone, one launch per operation, was 12 per parameter), no
    second softmax, no fill of ones per step (counted as CuPy would launch them:
    fake_cupy.Launches)."""
    from emulated_gpu.fake_cupy import Launches

    net, batch = _head(updater=updater), _data(8)
    net.fit(batch)  # the first step makes the updater state
    Launches.counts, Launches.counting = {}, True
    try:
        net.fit(batch)
    finally:
        Launches.counting = False
    assert Launches.total() <= 9, Launches.counts
    assert Launches.counts.get(updater.kernel) == 2, Launches.counts
    assert "softmax_forward" not in Launches.counts and "ones" not in Launches.counts
