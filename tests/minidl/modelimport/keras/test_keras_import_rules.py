"""DL4J's rules for imported Keras models: the training configuration (enforced or not), the
transfer API on an imported model, saving it with ModelSerializer, import_model by suffix."""

import warnings

import numpy as np
import pytest

from keras_models import sequential_cnn, vgg_like
from keras_reference import evaluate
from keras_writers import write_h5, write_keras
from minidl import (Activation, DataSet, LossFunction, ModelSerializer, OutputLayer, Sgd,
                    WeightInit)
from minidl.learning.updaters import Adam, Nesterovs
from minidl.modelimport import KerasModelImport, import_model
from minidl.modelimport.keras import UnsupportedKerasConfigurationException
from transfer import FineTuneConfiguration, TransferLearning

TRAINING = {"loss": "categorical_crossentropy", "loss_weights": None, "metrics": ["accuracy"],
            "optimizer_config": {"class_name": "Adam", "config": {
                "name": "adam", "learning_rate": 0.002, "beta_1": 0.8, "beta_2": 0.99,
                "epsilon": 1e-7, "amsgrad": False}}}


def _vgg_h5(tmp_path, training=TRAINING, activation="softmax"):
    model = vgg_like()
    model.layers[-1].config["activation"] = activation
    return write_h5(tmp_path / "vgg.h5", model, 2, training)


def test_without_enforcing_the_last_layer_stays_a_dense_layer(tmp_path):
    net = KerasModelImport.import_keras_model_and_weights(_vgg_h5(tmp_path))
    layer = net.get_layer("predictions")
    assert type(layer).__name__ == "DenseLayer" and layer.activation == Activation.SOFTMAX


@pytest.mark.parametrize("loss, expected", [
    ("categorical_crossentropy", LossFunction.MCXENT),
    ("sparse_categorical_crossentropy", LossFunction.NEGATIVELOGLIKELIHOOD),
    ("mse", LossFunction.MSE), ("binary_crossentropy", LossFunction.XENT),
    ({"module": "keras.losses", "class_name": "CategoricalCrossentropy",
      "config": {"from_logits": False, "label_smoothing": 0.0}, "registered_name": None},
     LossFunction.MCXENT)])
def test_enforcing_turns_the_last_dense_into_an_output_layer_with_the_loss(tmp_path, loss,
                                                                           expected):
    activation = "sigmoid" if expected == LossFunction.XENT else "softmax"
    path = _vgg_h5(tmp_path, {**TRAINING, "loss": loss}, activation)
    net = KerasModelImport.import_keras_model_and_weights(path, enforce_training_config=True)
    layer = net.get_layer("predictions")
    assert type(layer).__name__ == "OutputLayer" and layer.loss == expected
    assert layer.activation == Activation.parse(activation)
    assert layer.updater == Adam(0.002, 0.8, 0.99, 1e-7)
    # the same weights as without the training config: the outputs agree
    plain = KerasModelImport.import_keras_model_and_weights(path)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(net.output_single(x), plain.output_single(x))


def test_keras3_compile_config_in_a_keras_zip(tmp_path):
    compile_config = {"loss": "mse", "optimizer": {"module": "keras.optimizers",
                      "class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9,
                                                      "nesterov": True}, "registered_name": None}}
    path = write_keras(tmp_path / "vgg.keras", vgg_like(), compile_config)
    net = KerasModelImport.import_keras_model_and_weights(path, True)  # DL4J's (path, enforce)
    layer = net.get_layer("predictions")
    assert layer.loss == LossFunction.MSE and layer.updater == Nesterovs(0.05, 0.9)


@pytest.mark.parametrize("training, what", [
    ({**TRAINING, "loss": "kl_divergence"}, "kl_divergence"),
    ({**TRAINING, "loss": {"class_name": "CategoricalCrossentropy",
                           "config": {"from_logits": True}}}, "from_logits"),
    ({**TRAINING, "loss_weights": [0.5]}, "loss_weights"),
    ({**TRAINING, "optimizer_config": {"class_name": "Adagrad", "config": {
        "learning_rate": 0.1}}}, "Adagrad"),
    ({**TRAINING, "optimizer_config": {"class_name": "SGD", "config": {
        "learning_rate": 0.1, "momentum": 0.9, "nesterov": False}}}, "SGD"),
    ({**TRAINING, "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": {
        "class_name": "ExponentialDecay", "config": {}}}}}, "schedule")])
def test_an_unsupported_training_setting_is_an_error_when_enforcing(tmp_path, training, what):
    path = _vgg_h5(tmp_path, training)
    with pytest.raises(UnsupportedKerasConfigurationException, match=what):
        KerasModelImport.import_keras_model_and_weights(path, enforce_training_config=True)
    KerasModelImport.import_keras_model_and_weights(path)  # without enforcing: imported


def test_a_regularizer_is_an_error_when_enforcing_and_a_warning_otherwise(tmp_path):
    model = vgg_like()
    model.layers[4].config["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 0.01}}
    path = write_h5(tmp_path / "reg.h5", model, 2, TRAINING)
    with pytest.raises(UnsupportedKerasConfigurationException, match="fc1.*kernel_regularizer"):
        KerasModelImport.import_keras_model_and_weights(path, enforce_training_config=True)
    with pytest.warns(UserWarning, match="fc1.*kernel_regularizer"):
        KerasModelImport.import_keras_model_and_weights(path)


def test_enforcing_without_a_training_config_warns_and_keeps_the_dense_layer(tmp_path):
    path = _vgg_h5(tmp_path, None)
    with pytest.warns(UserWarning, match="no training config"):
        net = KerasModelImport.import_keras_model_and_weights(path, enforce_training_config=True)
    assert type(net.get_layer("predictions")).__name__ == "DenseLayer"


def test_an_imported_model_transfers_as_the_dl4j_guide_does(tmp_path):
    model = vgg_like()
    imported = import_model(write_keras(tmp_path / "vgg.keras", model))
    ftc = FineTuneConfiguration.Builder().updater(Sgd(0.5)).seed(3).build()
    net = (TransferLearning.GraphBuilder(imported).fine_tune_configuration(ftc)
           .set_feature_extractor("fc2")
           .remove_vertex_keep_connections("predictions")
           .add_layer("predictions", OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=8,
                                                 n_out=2, weight_init=WeightInit.XAVIER,
                                                 activation=Activation.SOFTMAX), "fc2")
           .build())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    # the frozen part computes what Keras computes: fc2 against the NumPy evaluation
    model.outputs = ["fc2"]
    fc2 = net.feed_forward(x.transpose(0, 3, 1, 2), until="fc2")["fc2"]
    np.testing.assert_allclose(fc2, evaluate(model, {"input_1": x})[0], rtol=1e-4, atol=1e-5)
    frozen_before = net.get_param("fc1_W").copy()
    head_before = net.get_param("predictions_W").copy()
    labels = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    net.fit(DataSet(x.transpose(0, 3, 1, 2), labels))
    np.testing.assert_array_equal(net.get_param("fc1_W"), frozen_before)
    assert not np.allclose(net.get_param("predictions_W"), head_before)
    np.testing.assert_array_equal(imported.get_param("fc1_W"), frozen_before)  # untouched


@pytest.mark.parametrize("make, suffix", [(vgg_like, ".keras"), (sequential_cnn, ".h5")])
def test_import_model_gives_a_graph_that_model_serializer_writes(tmp_path, make, suffix):
    model = make()
    path = tmp_path / f"m{suffix}"
    write_keras(path, model) if suffix == ".keras" else write_h5(path, model)
    net = import_model(path)
    ModelSerializer.write_model(net, tmp_path / "m.zip")
    restored = ModelSerializer.restore_computation_graph(tmp_path / "m.zip")
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(restored.output_single(x), net.output_single(x))


def test_every_layer_model_survives_model_serializer(tmp_path):
    from keras_models import every_layer
    model = every_layer()
    net = import_model(write_keras(tmp_path / "e.keras", model))
    ModelSerializer.write_model(net, tmp_path / "e.zip")
    restored = ModelSerializer.restore_computation_graph(tmp_path / "e.zip")
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((2, 2, 10, 10)).astype(np.float32) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a, b in zip(restored.output(*xs), net.output(*xs)):
            np.testing.assert_array_equal(a, b)
