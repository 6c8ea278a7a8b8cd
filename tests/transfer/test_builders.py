"""TransferLearning.Builder / GraphBuilder beyond DL4J's own tests (those are in tests/parity):

* the seed's three edits of VGG16, on a tiny network with VGG16's vertex names (vgg_like.py):
  (A) EditLastLayerOthersFrozen, (B) EditAtBottleneckOthersFrozen, (C) FineTuneFromBlockFour
  from (B) saved and restored with ModelSerializer. Each time: the original is untouched,
  frozen parameters do not move in training, trainable ones do, outputs have the right shape;
* training with frozen layers computes no gradient and runs no backward work below the boundary;
* the deliberate improvements over DL4J: clear errors for unknown names and out-of-range
  indices, no fine-tune configuration needed;
* where minidl deliberately differs from DL4J, its own behaviour: set_feature_extractor freezes
  exactly the feature extractor (restored frozen layers above it train again), removed layers
  lose all their preprocessors, the layers fed by an n_out_replace'd layer are fine-tuned.
"""

import importlib

import numpy as np
import pytest

from devices import devices_of, host
from minidl import (Activation, ComputationGraph, ConvolutionLayer, DataSet, DenseLayer,
                    FrozenVertex, InputType, LossFunction, ModelSerializer, MultiLayerNetwork, NeuralNetConfiguration,
                    Nesterovs, NormalDistribution, OptimizationAlgorithm, OutputLayer, Sgd,
                    SubsamplingLayer, WeightInit)
from minidl.backend import set_device
from transfer import FineTuneConfiguration, TransferLearning
from vgg_like import FC, conv_names, images, vgg_like

SGD_ALGO = OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT
N_CLASSES = 5


@pytest.fixture(scope="module")
def pretrained():
    return vgg_like()


@pytest.fixture
def original(pretrained, device):
    """The pretrained network on ``device``: a copy, moved (the module's one stays on the host)."""
    return pretrained.clone().to(device)


def _host_params(net):
    """A NumPy copy of every parameter."""
    return {k: host(v).copy() for k, v in net.param_table().items()}


def _state(net):
    return net.conf.to_json(), _host_params(net)


def _assert_unchanged(net, state):
    json, params = state
    assert net.conf.to_json() == json
    for key, value in params.items():
        np.testing.assert_array_equal(host(net.get_param(key)), value, err_msg=key)


def _train(net, fits=3, seed=0):
    before = _host_params(net)
    ds = images(4, N_CLASSES, seed)
    for _ in range(fits):
        net.fit(ds)
    moved = {k for k, v in _host_params(net).items() if not np.array_equal(v, before[k])}
    return before, moved


def _layer_keys(net, names):
    return {f"{n}_{p}" for n in names for p in net.param_tables.get(n, {})}


def _frozen_names(net):
    return {name for name, vertex in net.conf.vertices.items() if vertex.frozen}


def _ftc(updater, **settings):
    builder = FineTuneConfiguration.Builder().optimization_algo(SGD_ALGO).updater(updater).seed(12345)
    for name, value in settings.items():
        getattr(builder, name)(value)
    return builder.build()


def _edit_last_layer(pretrained):
    """(A): freeze up to fc2, replace predictions by a 5-class output layer."""
    return (TransferLearning.GraphBuilder(pretrained)
            .fine_tune_configuration(_ftc(Nesterovs(1e-2)))
            .set_feature_extractor("fc2")
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(
                loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=FC, n_out=N_CLASSES,
                weight_init=NormalDistribution(0, 0.2 * (2.0 / (FC + N_CLASSES))),
                activation=Activation.SOFTMAX), "fc2")
            .build())


def test_edit_last_layer_others_frozen(original, device):
    pretrained, original = original, _state(original)
    net = _edit_last_layer(pretrained)
    _assert_unchanged(pretrained, original)
    assert devices_of(net) == {device}  # the edited network is where the original is

    everything = set(net.conf.vertices)
    assert _frozen_names(net) == everything - {"predictions"}
    assert isinstance(net.conf.vertices["flatten"], FrozenVertex)
    assert net.output_single(images(3, N_CLASSES).features).shape == (3, N_CLASSES)
    # Kept parameters are copies of the original's; the new layer is fresh.
    for key, value in original[1].items():
        if not key.startswith("predictions_"):
            np.testing.assert_array_equal(host(net.get_param(key)), value)
    assert set(net.param_table(backprop_params_only=True)) == {"predictions_W", "predictions_b"}

    before, moved = _train(net)
    assert moved == {"predictions_W", "predictions_b"}
    _assert_unchanged(pretrained, original)


def _edit_at_bottleneck(pretrained):
    """(B): freeze up to block5_pool, shrink fc2, replace predictions by fc3 + newpredictions."""
    return (TransferLearning.GraphBuilder(pretrained)
            .fine_tune_configuration(_ftc(Nesterovs(1e-2), activation=Activation.LEAKYRELU,
                                          weight_init=WeightInit.RELU, dropout=0.5))
            .set_feature_extractor("block5_pool")
            .n_out_replace("fc2", 6, WeightInit.XAVIER)
            .remove_vertex_and_connections("predictions")
            .add_layer("fc3", DenseLayer(activation=Activation.TANH, n_in=6, n_out=4), "fc2")
            .add_layer("newpredictions", OutputLayer(
                loss=LossFunction.NEGATIVELOGLIKELIHOOD, activation=Activation.SOFTMAX, n_in=4,
                n_out=N_CLASSES), "fc3")
            .set_outputs("newpredictions")
            .build())


BLOCK_NAMES = [f"block{b}_pool" for b in range(1, 6)] + conv_names()
HEAD = {"fc1", "fc2", "fc3", "newpredictions"}


def test_edit_at_bottleneck_others_frozen(original, device):
    pretrained, original = original, _state(original)
    net = _edit_at_bottleneck(pretrained)
    _assert_unchanged(pretrained, original)

    assert _frozen_names(net) == set(BLOCK_NAMES)
    assert net.output_names == ["newpredictions"] and "predictions" not in net.conf.vertices
    assert net.get_param("fc2_W").shape == (FC, 6)
    np.testing.assert_array_equal(host(net.get_param("fc1_W")), original[1]["fc1_W"])  # kept
    assert net.get_layer("fc1").activation is Activation.LEAKYRELU  # fine-tuned original layer
    assert net.get_layer("fc3").activation is Activation.TANH  # an added layer keeps its own
    assert net.output_single(images(3, N_CLASSES).features).shape == (3, N_CLASSES)

    before, moved = _train(net)
    assert moved == _layer_keys(net, HEAD)
    _assert_unchanged(pretrained, original)


def test_fine_tune_from_block_four(original, tmp_path, device):
    bottleneck = _edit_at_bottleneck(original)
    _train(bottleneck)
    path = tmp_path / "MyComputationGraph.zip"
    ModelSerializer.write_model(bottleneck, path, False)
    restored = ModelSerializer.restore_computation_graph(path)
    assert devices_of(restored) == {device}
    assert _frozen_names(restored) == set(BLOCK_NAMES)  # frozen-ness is saved
    restored_state = _state(restored)

    net = (TransferLearning.GraphBuilder(restored)
           .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(1e-2))
                                    .seed(12345).build())
           .set_feature_extractor("block4_pool")
           .build())
    _assert_unchanged(restored, restored_state)
    block5 = {"block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"}
    assert _frozen_names(net) == set(BLOCK_NAMES) - block5
    assert net.output_single(images(3, N_CLASSES).features).shape == (3, N_CLASSES)

    before, moved = _train(net)
    assert moved == _layer_keys(net, HEAD | block5)  # block 5 trains now
    _assert_unchanged(restored, restored_state)


# -- no gradient, no backward work below the frozen boundary -----------------------------------

@pytest.fixture
def backward_calls(monkeypatch):
    """Records (op, needs_input_grad, input gradient) for every Conv2d / Linear backward."""
    calls = []
    # importlib: minidl.ops re-exports functions named like these modules (ops.linear).
    conv = importlib.import_module("minidl.ops.conv")
    linear = importlib.import_module("minidl.ops.linear")
    for op in (conv.Conv2d, linear.Linear):
        original = op.backward

        def counting(self, *gys, _original=original, _name=op.__name__):
            grads = _original(self, *gys)
            calls.append((_name, self.needs_input_grad, grads[0]))
            return grads
        monkeypatch.setattr(op, "backward", counting)
    return calls


def _conv_mln(frozen_till=None):
    conf = (NeuralNetConfiguration.Builder().seed(7).updater(Sgd(0.1)).activation(Activation.RELU)
            .list()
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=3))
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=3))
            .layer(SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)))
            .layer(ConvolutionLayer(kernel_size=(2, 2), n_out=4))
            .layer(DenseLayer(n_out=5))
            .layer(OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_out=3))
            .set_input_type(InputType.convolutional(10, 10, 2)).build())
    return MultiLayerNetwork(conf).init()


def _conv_data():
    rng = np.random.default_rng(3)
    return DataSet(rng.normal(size=(4, 2, 10, 10)).astype(np.float32),
                   np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])


def test_training_frozen_network_does_no_backward_work_below_the_boundary(backward_calls, device):
    net = TransferLearning.Builder(_conv_mln()).set_feature_extractor(2).build()
    for key in ("0_W", "0_b", "1_W", "1_b"):
        tensor = net.param_tables[key[0]][key[2:]]
        assert tensor.requires_grad is False and tensor.grad is None
    net.fit(_conv_data())

    # Only the three trainable layers ran a backward pass ...
    assert [name for name, _, _ in backward_calls] == ["Linear", "Linear", "Conv2d"]
    # ... and the first trainable convolution computed no gradient for its input.
    _, needs, gx = backward_calls[-1]
    assert needs[0] is False and gx is None
    for key in ("0_W", "0_b", "1_W", "1_b"):
        assert net.param_tables[key[0]][key[2:]].grad is None
    assert set(net.updater_state) <= {(k, p) for k in "345" for p in "Wb"}


def test_unfrozen_network_does_backward_work_everywhere(backward_calls, device):
    """The counter counts: without freezing, all five parametrised layers run backward."""
    _conv_mln().fit(_conv_data())
    assert [name for name, _, _ in backward_calls] == ["Linear", "Linear", "Conv2d", "Conv2d",
                                                      "Conv2d"]
    assert backward_calls[-1][1][0] is False  # the network input needs no gradient either


def test_frozen_graph_does_no_backward_work_below_the_boundary(original, backward_calls):
    net = _edit_last_layer(original)
    net.fit(images(2, N_CLASSES))
    assert [name for name, _, _ in backward_calls] == ["Linear"]
    assert backward_calls[0][1][0] is False and backward_calls[0][2] is None
    assert all(t.grad is None for k, _, t in net.param_items() if k != "predictions")


# -- deliberate improvements over DL4J -----------------------------------------------------------

def _dense_mln():
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).list()
            .layer(DenseLayer(n_in=4, n_out=3))
            .layer(DenseLayer(n_in=3, n_out=2))
            .layer(OutputLayer(loss=LossFunction.MSE, n_in=2, n_out=2)).build())
    return MultiLayerNetwork(conf).init()


@pytest.mark.parametrize("edit", [
    lambda b: b.set_feature_extractor("fc9").build(),  # checked at build: added names count
    lambda b: b.remove_vertex_keep_connections("fc9"),
    lambda b: b.remove_vertex_and_connections("fc9"),
    lambda b: b.n_out_replace("fc9", 3, WeightInit.XAVIER),
    lambda b: b.n_in_replace("fc9", 3, WeightInit.XAVIER),
])
def test_unknown_vertex_names_raise_a_clear_error(pretrained, edit):
    with pytest.raises(ValueError) as error:
        edit(TransferLearning.GraphBuilder(pretrained))
    message = str(error.value)
    assert "'fc9'" in message and "fc2" in message and "block5_pool" in message


@pytest.mark.parametrize("edit, what", [
    (lambda b: b.n_out_replace(3, 5, WeightInit.XAVIER), "n_out_replace"),
    (lambda b: b.n_in_replace(-1, 5, WeightInit.XAVIER), "n_in_replace"),
    (lambda b: b.set_feature_extractor(3), "set_feature_extractor"),
])
def test_out_of_range_layer_indices_raise_a_clear_error(edit, what):
    builder = edit(TransferLearning.Builder(_dense_mln()))
    with pytest.raises(IndexError) as error:
        builder.build()
    assert what in str(error.value) and "0..2" in str(error.value)


def test_non_layer_and_non_feed_forward_targets_are_refused(pretrained):
    with pytest.raises(ValueError, match="flatten"):
        TransferLearning.GraphBuilder(pretrained).n_out_replace("flatten", 3, WeightInit.XAVIER)
    with pytest.raises(ValueError, match="block1_pool.*SubsamplingLayer"):
        TransferLearning.GraphBuilder(pretrained).n_out_replace("block1_pool", 3,
                                                                WeightInit.XAVIER)
    with pytest.raises(ValueError, match="DISTRIBUTION"):
        TransferLearning.Builder(_dense_mln()).n_out_replace(0, 3, WeightInit.DISTRIBUTION)


def test_no_fine_tune_configuration_needed(device):
    """DL4J's MLN addLayer throws a NullPointerException without one; here it just works and the
    original network's settings (seed, updater defaults) carry over."""
    orig = _dense_mln()
    net = (TransferLearning.Builder(orig).remove_output_layer()
           .add_layer(OutputLayer(loss=LossFunction.MSE, n_in=2, n_out=4)).build())
    assert net.conf.seed == orig.conf.seed
    assert net.output(np.ones((1, 4), np.float32)).shape == (1, 4)
    np.testing.assert_array_equal(host(net.get_param("0_W")), host(orig.get_param("0_W")))
    net.fit(DataSet(np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32)))


def test_set_feature_extractor_freezes_exactly_layers_zero_to_k():
    """A network frozen up to 1, edited to freeze up to 0, trains layer 1 again (multi-layer
    counterpart of FineTuneFromBlockFour); FrozenLayer cannot wrap the output layer."""
    frozen_to_1 = TransferLearning.Builder(_dense_mln()).set_feature_extractor(1).build()
    net = TransferLearning.Builder(frozen_to_1).set_feature_extractor(0).build()
    assert [l.frozen for l in net.layers] == [True, False, False]
    assert net.param_tables["1"]["W"].requires_grad
    with pytest.raises(ValueError, match="Output layers are not allowed to be frozen"):
        TransferLearning.Builder(_dense_mln()).set_feature_extractor(2).build()


def _dense_graph():
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).graph_builder()
            .add_inputs("in")
            .add_layer("a", DenseLayer(n_in=4, n_out=3), "in")
            .add_layer("b", OutputLayer(loss=LossFunction.MSE, n_in=3, n_out=2), "a")
            .set_outputs("b").build())
    return ComputationGraph(conf).init()


def test_an_edited_network_is_where_its_original_was_moved(device):
    set_device("cpu")  # the default device stays the host; the user moves the networks
    data = DataSet(np.ones((2, 4), np.float32), np.zeros((2, 2), np.float32))
    mln = TransferLearning.Builder(_dense_mln().to(device)).set_feature_extractor(0).build()
    graph = (TransferLearning.GraphBuilder(_dense_graph().to(device))
             .set_feature_extractor("a").build())
    for net in (mln, graph):
        assert devices_of(net) == {device}
        net.fit(data)
        assert devices_of(net) == {device}


# -- where minidl deliberately differs from DL4J (asserting ours) ---------------------------------

def test_removed_layers_lose_all_their_preprocessors(device):
    """DL4J's pop step leaves the lowest removed layer's preprocessor behind (an off-by-one);
    here every removed layer's preprocessor goes, and type inference adds what new layers need."""
    conf = (NeuralNetConfiguration.Builder().seed(1).list()
            .layer(ConvolutionLayer(kernel_size=(2, 2), n_out=2))
            .layer(DenseLayer(n_out=3))
            .layer(OutputLayer(loss=LossFunction.MSE, n_out=2))
            .set_input_type(InputType.convolutional(4, 4, 1)).build())
    orig = MultiLayerNetwork(conf).init()
    assert set(orig.conf.input_preprocessors) == {1}  # CnnToFeedForward before the dense layer
    net = (TransferLearning.Builder(orig).remove_layers_from_output(2)
           .add_layer(ConvolutionLayer(kernel_size=(2, 2), n_in=2, n_out=2))
           .add_layer(OutputLayer(loss=LossFunction.MSE, n_in=8, n_out=2)).build())
    assert 1 not in net.conf.input_preprocessors  # the removed dense layer's is gone
    assert type(net.conf.input_preprocessors[2]).__name__ == "CnnToFeedForwardPreProcessor"
    assert net.output(np.zeros((1, 1, 4, 4), np.float32)).shape == (1, 2)


def test_n_out_replace_fan_out_layer_gets_the_fine_tune_configuration():
    """DL4J re-adds the layers fed by a replaced layer from the original configuration, so the
    fine-tune updater never reaches them; here they are fine-tuned like every original layer."""
    orig = _dense_graph()
    net = (TransferLearning.GraphBuilder(orig)
           .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Nesterovs(0.5)).build())
           .n_out_replace("a", 5, WeightInit.XAVIER).build())
    assert net.get_layer("b").n_in == 5 and net.get_param("b_W").shape == (5, 2)
    assert net.get_layer("b").updater == Nesterovs(0.5)
    assert net.get_layer("a").updater == Nesterovs(0.5)


def test_builder_for_and_new_output_layer_match_the_explicit_dl4j_chains():
    """TransferLearning.builder_for picks DL4J's builder for the network; new_output_layer is
    EditLastLayerOthersFrozen's chain, with n_in read from what the new layer reads."""
    from minidl import Activation, LossFunction, OutputLayer
    from transfer import TransferLearning

    def head(n_in):
        return OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=n_in, n_out=3,
                           activation=Activation.SOFTMAX)
    mln = _conv_mln()
    assert type(TransferLearning.builder_for(mln)) is TransferLearning.Builder
    generic = TransferLearning.builder_for(mln).new_output_layer(head, 2).build()
    n_in = mln.conf.infer_types()[-1].size
    explicit = (TransferLearning.Builder(mln).set_feature_extractor(2).remove_output_layer()
                .add_layer(head(n_in)).build())
    assert generic.conf.to_json() == explicit.conf.to_json()
    np.testing.assert_array_equal(host(generic.params()), host(explicit.params()))
