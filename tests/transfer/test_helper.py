"""TransferLearningHelper beyond DL4J's own tests (tests/parity/test_transfer_learning_helper.py).

The invariant the helper exists for: featurizing through the frozen part once and fitting the
unfrozen part on the features gives exactly the parameters that fitting the whole frozen
network on the raw data gives (same seed, same batches, several epochs), for a graph and a
multi-layer network. Both run the same float32 operations on the same numbers, so the check is
bit for bit. Also: the featurized inputs come in sorted name order, the parameters are copied
back into the original after every call, and misuse gets clear errors.
"""

import numpy as np
import pytest

from devices import devices_of, host
from minidl import (Activation, ComputationGraph, ConvolutionLayer, DataSet, DenseLayer,
                    ExistingDataSetIterator, InputType, LossFunction, MultiDataSet,
                    MultiLayerNetwork, Nesterovs, NeuralNetConfiguration, OutputLayer, Sgd,
                    SubsamplingLayer, WeightInit)
from minidl.backend import device_of, set_device
from transfer import FineTuneConfiguration, TransferLearning, TransferLearningHelper
from vgg_like import FC, images, vgg_like

N_CLASSES = 5
EPOCHS = 3


def _batches(n_batches, size, n_classes, seed=0):
    return [images(size, n_classes, seed + i) for i in range(n_batches)]


def _edited_vgg():
    """EditLastLayerOthersFrozen on the tiny VGG: fc2 and everything below frozen."""
    ftc = FineTuneConfiguration.Builder().updater(Nesterovs(1e-2)).seed(12345).build()
    return (TransferLearning.GraphBuilder(vgg_like())
            .fine_tune_configuration(ftc)
            .set_feature_extractor("fc2")
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD,
                                                  n_in=FC, n_out=N_CLASSES,
                                                  activation=Activation.SOFTMAX), "fc2")
            .build())


def test_featurize_then_fit_equals_fit_on_frozen_graph(device):
    frozen_net = _edited_vgg()
    helper = TransferLearningHelper(frozen_net.clone())  # uses the layers frozen already
    assert helper.graph_inputs == ["fc2"]
    batches = _batches(3, 4, N_CLASSES)
    featurized = [helper.featurize(b) for b in batches]
    assert featurized[0].features.shape == (4, FC)
    assert device_of(featurized[0].features) == device  # on the host only when written to disk
    np.testing.assert_array_equal(featurized[0].labels, batches[0].labels)

    for _ in range(EPOCHS):
        for batch, features in zip(batches, featurized):
            frozen_net.fit(batch)
            helper.fit_featurized(features)
    np.testing.assert_array_equal(host(helper.network.params()), host(frozen_net.params()))
    np.testing.assert_array_equal(host(helper.unfrozen_graph().get_param("predictions_W")),
                                  host(frozen_net.get_param("predictions_W")))
    x = batches[0].features
    np.testing.assert_array_equal(host(helper.output_from_featurized(
        helper.featurize(batches[0]).features)), host(frozen_net.output_single(x)))


def _mln(seed=3):
    """Conv feature extractor (layers 0-2) + a dense head with dropout."""
    conf = (NeuralNetConfiguration.Builder().seed(seed).updater(Sgd(0.1))
            .activation(Activation.RELU).weight_init(WeightInit.XAVIER).list()
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=3))
            .layer(SubsamplingLayer(kernel_size=(2, 2), stride=(2, 2)))
            .layer(ConvolutionLayer(kernel_size=(2, 2), n_out=4))
            .layer(DenseLayer(n_out=6, dropout=0.8))
            .layer(OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_out=3))
            .set_input_type(InputType.convolutional(9, 9, 2)).build())
    return MultiLayerNetwork(conf).init()


def _mln_batches():
    rng = np.random.default_rng(5)
    return [DataSet(rng.normal(size=(4, 2, 9, 9)).astype(np.float32),
                    np.eye(3, dtype=np.float32)[rng.integers(0, 3, 4)]) for _ in range(3)]


def test_featurize_then_fit_equals_fit_on_frozen_mln(device):
    frozen_net = TransferLearning.Builder(_mln()).set_feature_extractor(2).build()
    model = _mln()
    helper = TransferLearningHelper(model, 2)
    batches = _mln_batches()
    featurized = ExistingDataSetIterator([helper.featurize(b) for b in batches])
    raw = ExistingDataSetIterator(batches)
    assert helper.featurize(batches[0]).features.shape == (4, 4, 2, 2)  # 9 -conv3-> 7 -pool-> 3 -conv2-> 2

    frozen_net.fit(raw, epochs=EPOCHS)
    helper.fit_featurized(featurized, epochs=EPOCHS)
    # Dropout in the head draws the same masks in both (frozen layers draw none).
    np.testing.assert_array_equal(host(model.params()), host(frozen_net.params()))
    assert helper.unfrozen_mln().num_params() == sum(
        frozen_net.layer_num_params(str(i)) for i in (3, 4))
    x = batches[1].features
    np.testing.assert_array_equal(host(helper.output_from_featurized(
        helper.featurize(batches[1]).features)), host(frozen_net.output(x)))


def test_params_are_copied_back_after_every_call(device):
    model = _mln()
    helper = TransferLearningHelper(model, 2)
    batch = helper.featurize(_mln_batches()[0])
    before = host(model.get_param("4_W")).copy()
    helper.fit_featurized(batch)
    np.testing.assert_array_equal(host(model.get_param("4_W")),
                                  host(helper.unfrozen_mln().get_param("1_W")))
    assert not np.array_equal(host(model.get_param("4_W")), before)


def test_helper_of_a_moved_network_works_where_the_network_is(device):
    set_device("cpu")
    model = _mln().to(device)  # made on the host, moved by the user
    helper = TransferLearningHelper(model, 2)
    assert devices_of(helper.unfrozen_mln()) == {device}
    batch = helper.featurize(_mln_batches()[0])
    assert device_of(batch.features) == device
    helper.fit_featurized(batch)
    assert devices_of(model) == devices_of(helper.unfrozen_mln()) == {device}
    np.testing.assert_array_equal(host(model.get_param("4_W")),
                                  host(helper.unfrozen_mln().get_param("1_W")))


def _two_branch_graph():
    """Inputs added as "zIn", "aIn"; the frozen boundary is "mid" and "aIn" feeds the head
    directly, so the head's inputs in sorted order are ["aIn", "mid"]."""
    conf = (NeuralNetConfiguration.Builder().seed(1).updater(Sgd(0.1)).graph_builder()
            .add_inputs("zIn", "aIn")
            .add_layer("mid", DenseLayer(n_in=3, n_out=2), "zIn")
            .add_layer("head", DenseLayer(n_in=4, n_out=3), "aIn", "mid")
            .add_layer("out", OutputLayer(loss=LossFunction.MSE, n_in=3, n_out=2), "head")
            .set_outputs("out").build())
    return ComputationGraph(conf).init()


def test_featurize_input_order_is_sorted(device):
    net = _two_branch_graph()
    helper = TransferLearningHelper(net, "mid")
    assert helper.graph_inputs == ["aIn", "mid"]
    assert helper.unfrozen_graph().input_names == ["aIn", "mid"]
    rng = np.random.default_rng(0)
    z, a = rng.random((5, 3), np.float32), rng.random((5, 2), np.float32)
    featurized = helper.featurize(MultiDataSet([z, a], [rng.random((5, 2), np.float32)]))
    np.testing.assert_array_equal(host(featurized.features[0]), a)
    np.testing.assert_array_equal(host(featurized.features[1]), host(net.feed_forward(z, a)["mid"]))
    np.testing.assert_array_equal(host(helper.output_from_featurized(featurized.features)[0]),
                                  host(net.output_single(z, a)))


def test_helper_freezes_in_place_without_changing_parameters():
    net = _two_branch_graph()
    params = net.params().copy()
    TransferLearningHelper(net, "mid")
    assert net.get_layer("mid").frozen and not net.get_layer("head").frozen
    np.testing.assert_array_equal(net.params(), params)


def test_clear_errors():
    with pytest.raises(ValueError, match="no vertex named 'nope'.*mid"):
        TransferLearningHelper(_two_branch_graph(), "nope")
    with pytest.raises(ValueError, match="no frozen layers"):
        TransferLearningHelper(_two_branch_graph())
    with pytest.raises(IndexError, match="0..3"):
        TransferLearningHelper(_mln(), 4)
    with pytest.raises(ValueError, match="no frozen layers"):
        TransferLearningHelper(_mln())
    mln_helper = TransferLearningHelper(_mln(), 1)
    with pytest.raises(ValueError, match="unfrozen_mln"):
        mln_helper.unfrozen_graph()
    with pytest.raises(ValueError, match="unfrozen_graph"):
        TransferLearningHelper(_two_branch_graph(), "mid").unfrozen_mln()
    batch = _mln_batches()[0]
    masked = DataSet(batch.features, batch.labels, features_mask=np.ones((4, 1), np.float32))
    with pytest.raises(ValueError, match="feature masks"):
        mln_helper.featurize(masked)


def _keras_named_graph():
    """``dense`` and ``dense_1`` (Keras' names: one a prefix of the other) side by side, Adam."""
    from minidl import Adam, MergeVertex
    conf = (NeuralNetConfiguration.Builder().seed(4).updater(Adam(1e-2)).graph_builder()
            .add_inputs("in")
            .add_layer("dense", DenseLayer(n_out=4, activation=Activation.TANH), "in")
            .add_layer("dense_1", DenseLayer(n_out=3, activation=Activation.TANH), "in")
            .add_vertex("merge", MergeVertex(), "dense", "dense_1")
            .add_layer("out", OutputLayer(loss=LossFunction.MCXENT, n_out=2,
                                          activation=Activation.SOFTMAX), "merge")
            .set_outputs("out").set_input_types(InputType.feed_forward(5)).build())
    return ComputationGraph(conf).init()


def test_freezing_dense_keeps_the_updater_state_of_dense_1():
    """Keys are (layer, parameter) pairs: freezing ``dense`` drops its Adam moments and nobody
    else's. One step later ``dense_1`` and ``out`` equal the same network trained whole (where
    ``dense`` still trains, but within one step it changes nothing the others see)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    whole = _keras_named_graph()
    for _ in range(2):  # Adam's moments are non-zero from here on
        whole.fit([x], [y])
    partly_frozen = whole.clone()
    TransferLearningHelper(partly_frozen, "dense")
    assert sorted({key for key, _ in partly_frozen.updater_state}) == ["dense_1", "out"]
    whole.fit([x], [y])
    partly_frozen.fit([x], [y])
    for key in ("dense_1_W", "dense_1_b", "out_W", "out_b"):
        np.testing.assert_array_equal(host(partly_frozen.get_param(key)),
                                      host(whole.get_param(key)), err_msg=key)
    assert not np.array_equal(host(partly_frozen.get_param("dense_W")),
                              host(whole.get_param("dense_W")))


def test_featurize_keeps_label_masks_of_a_dataset_and_a_multidataset():
    batch = _mln_batches()[0]
    mask = np.array([[1], [0], [1], [1]], np.float32)
    featurized = TransferLearningHelper(_mln(), 1).featurize(
        DataSet(batch.features, batch.labels, labels_mask=mask))
    np.testing.assert_array_equal(host(featurized.labels_mask), mask)

    net = _two_branch_graph()
    helper = TransferLearningHelper(net, "mid")
    rng = np.random.default_rng(1)
    z, a = rng.random((3, 3), np.float32), rng.random((3, 2), np.float32)
    y = rng.random((3, 2), np.float32)
    masks = [np.array([[1.0], [0.0], [1.0]], np.float32)]
    featurized = helper.featurize(MultiDataSet([z, a], [y], labels_masks=masks))
    np.testing.assert_array_equal(host(featurized.labels_masks[0]), masks[0])


def test_featurize_refuses_feature_masks_for_both_kinds_of_dataset():
    net = _two_branch_graph()
    helper = TransferLearningHelper(net, "mid")
    rng = np.random.default_rng(1)
    z, a = rng.random((3, 3), np.float32), rng.random((3, 2), np.float32)
    with pytest.raises(ValueError, match="feature masks"):
        helper.featurize(MultiDataSet([z, a], [rng.random((3, 2), np.float32)],
                                      features_masks=[np.ones((3, 1), np.float32), None]))


def test_a_multilayer_helper_refuses_a_multidataset():
    batch = _mln_batches()[0]
    with pytest.raises(TypeError, match="MultiLayerNetwork takes a DataSet"):
        TransferLearningHelper(_mln(), 1).featurize(MultiDataSet([batch.features], [batch.labels]))
