"""DL4J's TransferLearningMLNTest, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TransferLearningMLNTest.java),
with the same assertions.

Ported: simpleFineTune (plus the isolation test's gradient-length check), testNoutChanges,
testRemoveAndAdd, testAllWithCNN, testFineTuneOverride, testAllWithCNNNew, testObjectOverrides,
testTransferLearningSubsequent, testChangeNOutNIn.

Adapted:
- testNoutChanges: DL4J's original network has a deliberately inconsistent Dense(3->2) after a
  Dense(4->5); minidl checks n_in against the previous layer when the configuration is built, so
  the original here is consistent (Dense(5->2)). The point, that n_out_replace(0, ...) gives
  layer 1 the new nIn and scheme, is unchanged.
- testRemoveAndProcessing: the GravesLSTM and RnnOutputLayer become a softsign DenseLayer and an
  OutputLayer with the same settings, and the RnnToCnn preprocessor the input type convolutional_flat(130, 130, 3); the
  point (after remove_layers_from_output + add_layer, each layer's configuration equals a
  hand-built network's: fine-tune values fill only what added layers leave unset) survives.
  TBPTT settings do not exist in minidl.
- testFineTuneOverride: minidl has no HARDSIGMOID; SOFTMAX stands in, bounded to 0..1 like it, as
  the default MCXENT loss needs (HARDTANH is refused, as DL4J would). No TruncatedBPTT, so the
  backprop-type part is left out.
- testObjectOverrides: dropout and L2 are checked; weight noise and constraints do not exist.
- testTransferLearningSameDiffLayers: the LSTM + SelfAttentionLayer become two convolutions before
  the same GlobalPooling(MAX) and output layer, in float64 as DL4J's test: replacing the output
  layer by an identical one and copying its parameters gives the same output.

Left out: the workspace checks of TransferLearningMLNIsolationTest (minidl has no workspaces).

Where both sides run the same float32 operations in the same order the comparison is bit for
bit; scores use DL4J's tolerances. The tests that compute run on each backend (``device``),
comparing on the host; those that only check configurations do not take it.
"""

import numpy as np
import pytest

from devices import devices_of, host
from dl4j_nets import hstack_params, layer_params, mln, one_hot, per_backend, rand
from minidl import (Activation, AdaGrad, Adam, CnnToFeedForwardPreProcessor, ConstantDistribution,
                    ConvolutionLayer, DataSet, DenseLayer,
                    GlobalPoolingLayer, GradientNormalization, InputType, LossFunction,
                    Nesterovs, NormalDistribution, OptimizationAlgorithm, OutputLayer, PoolingType,
                    RmsProp, Sgd, SubsamplingLayer, WeightInit)
from minidl import serde
from transfer import FineTuneConfiguration, TransferLearning

SGD_ALGO = OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT


def _mcxent(n_in, n_out, **kw):
    return OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=n_in,
                       n_out=n_out, **kw)


def test_simple_fine_tune(device):
    rng = np.random.default_rng(12345)
    ds = DataSet(rand(rng, 10, 4), one_hot(rng, 10, 3))
    layers = [DenseLayer(n_in=4, n_out=3), _mcxent(3, 3)]
    to_fine_tune = mln(layers, seed=12345, optimization_algo=SGD_ALGO,
                       updater=Nesterovs(0.01, 0.99))
    ftc = (FineTuneConfiguration.Builder().seed(12345).optimization_algo(SGD_ALGO)
           .updater(RmsProp(0.5)).l2(0.4).build())
    model_now = TransferLearning.Builder(to_fine_tune).fine_tune_configuration(ftc).build()
    for layer in model_now.layers:
        assert layer.updater == RmsProp(0.5)
        assert layer.updater_for("b") == RmsProp(0.5)  # biases follow the new updater too

    expected = mln(layers, seed=12345, optimization_algo=SGD_ALGO, updater=RmsProp(0.5), l2=0.4,
                   params=to_fine_tune.params())
    np.testing.assert_array_equal(host(expected.params()), host(model_now.params()))
    assert expected.conf.to_json() == model_now.conf.to_json()

    expected.fit(ds)
    model_now.fit(ds)
    assert abs(expected.score() - model_now.score()) < 1e-6
    assert devices_of(model_now) == devices_of(expected) == {device}
    np.testing.assert_array_equal(host(expected.params()), host(model_now.params()))

    # TransferLearningMLNIsolationTest: output shape, one gradient value per parameter.
    assert model_now.output(ds.features).shape == (10, 3)
    gradients, _ = model_now.compute_gradient_and_score(ds)
    assert sum(g.size for g in gradients.values()) == model_now.num_params()


def test_nout_changes(device):
    rng = np.random.default_rng(12345)
    ds = DataSet(rand(rng, 10, 4), one_hot(rng, 10, 2))
    settings = dict(seed=12345, updater=Sgd(0.1))
    orig = mln([DenseLayer(n_in=4, n_out=5), DenseLayer(n_in=5, n_out=2),
                DenseLayer(n_in=2, n_out=3), _mcxent(3, 3)], **settings)
    ftc = FineTuneConfiguration.Builder().updater(Sgd(0.1)).build()
    model_now = (TransferLearning.Builder(orig).fine_tune_configuration(ftc)
                 .n_out_replace(3, 2, WeightInit.XAVIER, WeightInit.XAVIER)
                 .n_out_replace(0, 3, WeightInit.XAVIER, NormalDistribution(1, 0.1))
                 .build())
    layers = model_now.layers
    assert layers[0].weight_init is WeightInit.XAVIER
    assert serde.to_json(layers[1].weight_init) == serde.to_json(NormalDistribution(1, 0.1))
    assert layers[3].weight_init is WeightInit.XAVIER

    expected = mln([DenseLayer(n_in=4, n_out=3), DenseLayer(n_in=3, n_out=2),
                    DenseLayer(n_in=2, n_out=3), _mcxent(3, 2)], **settings)
    assert expected.params().shape == model_now.params().shape
    for i in range(4):
        assert expected.param_table()[f"{i}_W"].shape == model_now.param_table()[f"{i}_W"].shape
    model_now.set_params(expected.params())
    expected.fit(ds)
    model_now.fit(ds)
    assert abs(expected.score() - model_now.score()) < 1e-6
    assert devices_of(model_now) == devices_of(expected) == {device}
    np.testing.assert_array_equal(host(expected.params()), host(model_now.params()))


def test_remove_and_add(device):
    rng = np.random.default_rng(12345)
    ds = DataSet(rand(rng, 10, 4), one_hot(rng, 10, 3))
    settings = dict(seed=12345, updater=Sgd(0.1))
    orig = mln([DenseLayer(n_in=4, n_out=5), DenseLayer(n_in=5, n_out=2),
                DenseLayer(n_in=2, n_out=3), _mcxent(3, 3)], **settings)
    model_now = (TransferLearning.Builder(orig)
                 .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.1)).build())
                 .n_out_replace(0, 7, WeightInit.XAVIER, WeightInit.XAVIER)
                 .n_out_replace(2, 5, WeightInit.XAVIER)
                 .remove_output_layer()
                 .add_layer(_mcxent(5, 3, updater=Sgd(0.5)))
                 .build())
    expected = mln([DenseLayer(n_in=4, n_out=7), DenseLayer(n_in=7, n_out=2),
                    DenseLayer(n_in=2, n_out=5), _mcxent(5, 3, updater=Sgd(0.5))], **settings)
    for i in range(4):
        assert expected.param_table()[f"{i}_W"].shape == model_now.param_table()[f"{i}_W"].shape
    assert model_now.layers[3].updater == Sgd(0.5)  # the added layer's own updater wins
    model_now.set_params(expected.params())
    expected.fit(ds)
    model_now.fit(ds)
    assert abs(expected.score() - model_now.score()) < 1e-4
    assert devices_of(model_now) == devices_of(expected) == {device}
    np.testing.assert_array_equal(host(expected.params()), host(model_now.params()))


def test_remove_and_processing():
    clip = dict(gradient_normalization=GradientNormalization.ClipElementWiseAbsoluteValue,
                gradient_normalization_threshold=10)

    def conv0(**kw):
        return ConvolutionLayer(kernel_size=(10, 10), n_in=3, n_out=30, stride=(4, 4),
                                activation=Activation.RELU, weight_init=WeightInit.RELU, **kw)

    def tail():
        return [SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(3, 3), stride=(2, 2)),
                ConvolutionLayer(kernel_size=(3, 3), n_in=30, n_out=10, stride=(2, 2),
                                 activation=Activation.RELU, weight_init=WeightInit.RELU),
                DenseLayer(activation=Activation.RELU, n_in=490, n_out=50,
                           weight_init=WeightInit.RELU, updater=AdaGrad(0.5), **clip),
                DenseLayer(activation=Activation.SOFTSIGN, n_in=50, n_out=50,
                           weight_init=WeightInit.XAVIER, updater=AdaGrad(0.6), **clip),
                OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=50,
                            n_out=4, weight_init=WeightInit.XAVIER, **clip)]

    # DL4J's preprocessor 0 (RnnToCnn) is written as an input type, which adds FeedForwardToCnn.
    into_cnn = InputType.convolutional_flat(130, 130, 3)
    expected = mln([conv0()] + tail(), seed=12345, l2=0.001, optimization_algo=SGD_ALGO,
                   updater=AdaGrad(0.4),
                   input_type=into_cnn, preprocessors={3: CnnToFeedForwardPreProcessor(7, 7, 10)})
    to_tweak = mln([conv0(updater=AdaGrad(0.1)),
                    SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(5, 5),
                                     stride=(2, 2)),
                    ConvolutionLayer(kernel_size=(6, 6), n_in=30, n_out=10, stride=(2, 2),
                                     activation=Activation.RELU, weight_init=WeightInit.RELU),
                    DenseLayer(activation=Activation.RELU, n_in=250, n_out=50,
                               weight_init=WeightInit.RELU, updater=RmsProp(0.01), **clip),
                    DenseLayer(activation=Activation.SOFTSIGN, n_in=50, n_out=25,
                               weight_init=WeightInit.XAVIER, **clip),
                    OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX,
                                n_in=25, n_out=4, weight_init=WeightInit.XAVIER, **clip)],
                   seed=12345, updater=RmsProp(0.1),
                   input_type=into_cnn, preprocessors={3: CnnToFeedForwardPreProcessor(5, 5, 10)})
    ftc = (FineTuneConfiguration.Builder().seed(12345).l2(0.001).updater(AdaGrad(0.4))
           .weight_init(WeightInit.RELU).build())
    builder = TransferLearning.Builder(to_tweak).fine_tune_configuration(ftc) \
        .remove_layers_from_output(5)
    for layer in tail():
        builder.add_layer(layer)
    model_now = builder.set_input_pre_processor(3, CnnToFeedForwardPreProcessor(7, 7, 10)).build()

    for i in (0, 2, 3, 4, 5):  # DL4J skips layer 1 (subsampling) too
        assert serde.to_json(model_now.layers[i]) == serde.to_json(expected.layers[i]), i
        for name, array in expected.param_tables[str(i)].items():
            assert model_now.param_tables[str(i)][name].shape == array.shape
    assert model_now.params().shape == expected.params().shape


# -- the convolutional network of testAllWithCNN / testAllWithCNNNew --------------------------

@pytest.fixture(scope="module")
def cnn_originals():
    return {}


@pytest.fixture
def cnn_original(cnn_originals, device, request):
    """One original per backend, made on it and shared by the module's tests."""
    return per_backend(cnn_originals, request, _cnn_original)


def _cnn_original():
    layers = [ConvolutionLayer(kernel_size=(5, 5), n_in=3, stride=(1, 1), n_out=20,
                               activation=Activation.IDENTITY),
              SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)),
              ConvolutionLayer(kernel_size=(5, 5), stride=(1, 1), n_out=50,
                               activation=Activation.IDENTITY),
              SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)),
              DenseLayer(activation=Activation.RELU, n_out=500),
              DenseLayer(activation=Activation.RELU, n_out=250),
              OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=100,
                          activation=Activation.SOFTMAX)]
    return mln(layers, input_type=InputType.convolutional_flat(28, 28, 3), seed=123,
               weight_init=WeightInit.XAVIER, updater=Nesterovs(0.01, 0.9))


@pytest.fixture(scope="module")
def cnn_data():
    rng = np.random.default_rng(12345)
    return DataSet(rand(rng, 10, 3 * 28 * 28).reshape(10, 3, 28, 28), one_hot(rng, 10, 10))


def _dense_head(n_in):
    return [DenseLayer(activation=Activation.RELU, n_in=n_in, n_out=300),
            DenseLayer(activation=Activation.RELU, n_in=300, n_out=150),
            DenseLayer(activation=Activation.RELU, n_in=150, n_out=50),
            OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, activation=Activation.SOFTMAX,
                        n_in=50, n_out=10)]


def _fit_alternating(not_frozen, model_now, as_frozen, ds, fits=3):
    for _ in range(fits):
        not_frozen.fit(DataSet(as_frozen, ds.labels))
        model_now.fit(ds)


def test_all_with_cnn(cnn_original, cnn_data, device):
    orig, ds = cnn_original, cnn_data
    as_frozen = orig.feed_forward_to_layer(2, ds.features)[2]
    assert as_frozen.shape == (10, 20, 12, 12)
    builder = (TransferLearning.Builder(orig)
               .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.2)).build())
               .set_feature_extractor(1)
               .n_out_replace(4, 600, WeightInit.XAVIER)
               .remove_layers_from_output(2))
    for layer in _dense_head(600):
        builder.add_layer(layer)
    model_now = builder.build()

    not_frozen = mln([ConvolutionLayer(kernel_size=(5, 5), stride=(1, 1), n_out=50,
                                       activation=Activation.IDENTITY),
                      SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2),
                                       stride=(2, 2)),
                      DenseLayer(activation=Activation.RELU, n_out=600)] + _dense_head(600),
                     input_type=InputType.convolutional(12, 12, 20), updater=Sgd(0.2),
                     optimization_algo=SGD_ALGO)
    np.testing.assert_array_equal(layer_params(orig, 0), layer_params(model_now, 0))
    for k in (0, 2, 3, 4, 5, 6):
        for name, array in not_frozen.param_table().items():
            if name.startswith(f"{k}_"):
                model_now.set_param(f"{k + 2}_{name.split('_')[1]}", array)

    _fit_alternating(not_frozen, model_now, as_frozen, ds)
    assert devices_of(model_now) == devices_of(not_frozen) == {device}
    np.testing.assert_array_equal(host(model_now.params()),
                                  hstack_params(layer_params(orig, 0), not_frozen.params()))


def test_all_with_cnn_new(cnn_original, cnn_data, device):
    orig, ds = cnn_original, cnn_data
    as_frozen = orig.feed_forward_to_layer(2, ds.features)[2]
    builder = (TransferLearning.Builder(orig)
               .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.2)).build())
               .set_feature_extractor(1)
               .remove_layers_from_output(5))
    for layer in _dense_head(2880):
        builder.add_layer(layer)
    model_now = builder.set_input_pre_processor(2, CnnToFeedForwardPreProcessor(12, 12, 20)).build()

    not_frozen = mln(_dense_head(2880), updater=Sgd(0.2), optimization_algo=SGD_ALGO,
                     preprocessors={0: CnnToFeedForwardPreProcessor(12, 12, 20)})
    for k in range(4):
        for p in ("W", "b"):
            model_now.set_param(f"{k + 2}_{p}", not_frozen.get_param(f"{k}_{p}"))

    _fit_alternating(not_frozen, model_now, as_frozen, ds)
    assert devices_of(model_now) == devices_of(not_frozen) == {device}
    np.testing.assert_array_equal(host(model_now.params()),
                                  hstack_params(layer_params(orig, 0), not_frozen.params()))


def test_fine_tune_override():
    orig = mln([DenseLayer(n_in=10, n_out=5),
                OutputLayer(n_in=5, n_out=4, activation=Activation.SOFTMAX)],
               updater=Adam(1e-4), activation=Activation.TANH, weight_init=WeightInit.RELU,
               l1=0.1, l2=0.2)
    ftc = FineTuneConfiguration.Builder().updater(Adam(2e-2)).build()
    net = TransferLearning.Builder(orig).fine_tune_configuration(ftc).build()

    # The original is unchanged ...
    first, second = orig.layers
    assert first.updater == Adam(1e-4) and second.updater == Adam(1e-4)
    assert first.activation is Activation.TANH and second.activation is Activation.SOFTMAX
    assert first.weight_init is WeightInit.RELU
    assert first.l1 == 0.1 and second.l2 == 0.2
    # ... and the new network has the new updater and everything else kept.
    first, second = net.layers
    assert first.updater == Adam(2e-2) and second.updater == Adam(2e-2)
    assert first.activation is Activation.TANH and second.activation is Activation.SOFTMAX
    assert first.weight_init is WeightInit.RELU and second.weight_init is WeightInit.RELU
    assert first.l1 == 0.1 and second.l2 == 0.2


def test_object_overrides():
    orig = mln([DenseLayer(n_in=10, n_out=10)], dropout=0.5, l2=0.5)
    assert orig.layers[0].dropout == 0.5 and orig.layers[0].l2 == 0.5
    ftc = FineTuneConfiguration.Builder().dropout(0.0).l2(0.0).build()
    layer = TransferLearning.Builder(orig).fine_tune_configuration(ftc).build().layers[0]
    assert layer.dropout in (None, 0.0)
    assert not any(type(r).__name__ == "L2Regularization" for r in layer.regularization_for("W"))
    assert orig.layers[0].dropout == 0.5 and orig.layers[0].l2 == 0.5


def test_transfer_learning_subsequent(device):
    x = np.zeros((6, 6, 6, 6), dtype=np.float32)
    orig = mln([ConvolutionLayer(kernel_size=(3, 3), n_out=10),
                ConvolutionLayer(kernel_size=(1, 1), n_out=3),
                OutputLayer(n_out=2, loss=LossFunction.MSE)],
               input_type=InputType.convolutional(6, 6, 6),
               weight_init=ConstantDistribution(666))
    net = (TransferLearning.Builder(orig)
           .fine_tune_configuration(FineTuneConfiguration.Builder().build())
           .n_out_replace(0, 7, ConstantDistribution(333))
           .n_out_replace(1, 3, ConstantDistribution(111))
           .remove_layers_from_output(1)
           .add_layer(OutputLayer(n_in=48, n_out=2, loss=LossFunction.MSE))
           .set_input_pre_processor(2, CnnToFeedForwardPreProcessor(4, 4, 3))
           .build())
    assert net.layer_input_size(1) == 7
    assert net.output(x).shape == (6, 2)
    # The second replacement's scheme wins for layer 1; layer 0 keeps the first's.
    assert np.all(host(net.get_param("0_W")) == 333) and np.all(host(net.get_param("1_W")) == 111)


def test_change_nout_nin(device):
    x = np.zeros((1, 2, 4, 4), dtype=np.float32)
    orig = mln([ConvolutionLayer(kernel_size=(1, 1), n_out=10),
                SubsamplingLayer(kernel_size=(1, 1)),
                ConvolutionLayer(kernel_size=(1, 1), n_out=7),
                OutputLayer(activation=Activation.SOFTMAX, n_out=2)],
               input_type=InputType.convolutional(4, 4, 2))
    net = (TransferLearning.Builder(orig)
           .n_out_replace(0, 5, WeightInit.XAVIER)
           .n_in_replace(2, 5, WeightInit.XAVIER)
           .build())
    assert net.layer_size(0) == 5
    assert net.layer_input_size(2) == 5
    assert net.output(x).shape == (1, 2)


def test_transfer_learning_replaced_output_layer_float64(device):
    settings = dict(data_type="float64", activation=Activation.TANH, updater=Adam(0.01),
                    weight_init=WeightInit.XAVIER)
    net = mln([ConvolutionLayer(kernel_size=(2, 2), n_out=8),
               ConvolutionLayer(kernel_size=(1, 1), n_out=4),
               GlobalPoolingLayer(pooling_type=PoolingType.MAX),
               _mcxent(4, 2)], input_type=InputType.convolutional(5, 5, 4), **settings)
    x = np.random.default_rng(0).random((3, 4, 5, 5))
    expected = net.output(x)
    assert expected.dtype == np.float64
    net2 = (TransferLearning.Builder(net)
            .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Adam(0.01)).build())
            .remove_layers_from_output(1)
            .add_layer(_mcxent(4, 2))
            .build())
    net2.set_param("3_W", net.get_param("3_W"))
    net2.set_param("3_b", net.get_param("3_b"))
    for key, value in host(net.param_table()).items():
        np.testing.assert_array_equal(host(net2.get_param(key)), value)
    np.testing.assert_array_equal(host(net2.output(x)), host(expected))
