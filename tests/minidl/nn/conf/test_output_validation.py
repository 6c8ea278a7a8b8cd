"""Output-layer validation (DL4J's OutputLayerUtil): the four rules, on for every builder that
makes a network (``.list()``, ``.graph_builder()``, both transfer builders), off with
``validate_output_layer_config(False)``; the error names the layer, its loss, activation and
n_out, and what would be valid.
"""

import re

import numpy as np
import pytest

from minidl import (Activation, ComputationGraph, DataSet, DenseLayer, FrozenLayerWithBackprop,
                    LossFunction, LossLayer, MultiLayerNetwork, NeuralNetConfiguration,
                    OutputLayer, Sgd)
from transfer import FineTuneConfiguration, TransferLearning

A, L = Activation, LossFunction

INVALID = [  # (activation, loss, n_out, what the message says)
    (A.SOFTMAX, L.MCXENT, 1, "softmax over a single output is exactly 1.0"),
    (A.SOFTMAX, L.MSE, 1, "softmax over a single output"),  # whatever the loss
    (A.RELU, L.MCXENT, 3, "MCXENT expects probabilities .* RELU does not bound"),
    (A.IDENTITY, L.MCXENT, 3, "MCXENT expects probabilities .* IDENTITY"),
    (A.IDENTITY, L.NEGATIVELOGLIKELIHOOD, 3, "NEGATIVELOGLIKELIHOOD expects probabilities"),
    (A.TANH, L.XENT, 1, "XENT expects probabilities .* TANH"),
    (A.LEAKYRELU, L.XENT, 2, "XENT expects probabilities"),
    (A.SOFTMAX, L.XENT, 3, "softmax with XENT"),
    (A.SIGMOID, L.MCXENT, 3, "sigmoid with MCXENT"),
    (A.SIGMOID, L.NEGATIVELOGLIKELIHOOD, 3, "sigmoid with NEGATIVELOGLIKELIHOOD"),
]
VALID = [
    (A.SOFTMAX, L.MCXENT, 3), (A.SOFTMAX, L.NEGATIVELOGLIKELIHOOD, 2), (A.SIGMOID, L.XENT, 1),
    (A.SIGMOID, L.XENT, 4), (A.IDENTITY, L.MSE, 1), (A.RELU, L.L2, 2), (A.TANH, L.MSE, 3),
    (A.SOFTMAX, L.MSE, 3), (A.SIGMOID, L.MSE, 1),
]


def _output(activation, loss, n_out):
    return OutputLayer(n_in=4, n_out=n_out, activation=activation, loss=loss)


def _list_conf(out, validate=None):
    builder = NeuralNetConfiguration.Builder().seed(1).list().layer(DenseLayer(n_in=3, n_out=4)) \
        .layer(out)
    if validate is not None:
        builder.validate_output_layer_config(validate)
    return builder.build()


def _graph_conf(out, validate=None):
    builder = NeuralNetConfiguration.Builder().seed(1).graph_builder().add_inputs("in") \
        .add_layer("hidden", DenseLayer(n_in=3, n_out=4), "in").add_layer("out", out, "hidden") \
        .set_outputs("out")
    if validate is not None:
        builder.validateOutputLayerConfig(validate)  # DL4J's spelling
    return builder.build()


@pytest.mark.parametrize("build, name", [(_list_conf, "'1'"), (_graph_conf, "'out'")])
@pytest.mark.parametrize("activation, loss, n_out, problem", INVALID)
def test_invalid_output_layers_are_refused_naming_layer_loss_activation_and_n_out(
        build, name, activation, loss, n_out, problem):
    with pytest.raises(ValueError) as error:
        build(_output(activation, loss, n_out))
    message = str(error.value)
    assert f"invalid output layer {name} (OutputLayer): loss {loss.name}, activation " \
           f"{activation.name}, n_out {n_out}: " in message
    assert re.search(problem, message), message
    assert "Valid: softmax + MCXENT or NEGATIVELOGLIKELIHOOD" in message
    assert "validate_output_layer_config(False)" in message


@pytest.mark.parametrize("build", [_list_conf, _graph_conf])
@pytest.mark.parametrize("activation, loss, n_out", VALID)
def test_valid_output_layers_build(build, activation, loss, n_out):
    build(_output(activation, loss, n_out))


@pytest.mark.parametrize("build", [_list_conf, _graph_conf])
@pytest.mark.parametrize("activation, loss, n_out, problem", INVALID)
def test_validation_can_be_switched_off(build, activation, loss, n_out, problem):
    build(_output(activation, loss, n_out), validate=False)


def test_the_default_activation_is_dl4js_sigmoid_which_mcxent_refuses():
    """OutputLayer(n_out=3) takes MCXENT and the global activation, SIGMOID by default: DL4J
    refuses that pair too. A global softmax makes it valid."""
    with pytest.raises(ValueError, match="activation SIGMOID"):
        _list_conf(OutputLayer(n_out=3))
    conf = NeuralNetConfiguration.Builder().activation(Activation.SOFTMAX).list() \
        .layer(OutputLayer(n_in=3, n_out=3)).build()
    assert conf.layers[0].activation is Activation.SOFTMAX


def test_a_loss_layer_may_take_identity_and_is_not_judged_on_its_size():
    """dense(softmax) -> loss(identity) is valid; a LossLayer's n_out is its input's."""
    def loss_conf(activation, n_in=3):
        return (NeuralNetConfiguration.Builder().list()
                .layer(DenseLayer(n_in=2, n_out=n_in, activation=Activation.SOFTMAX))
                .layer(LossLayer(loss=LossFunction.MCXENT, activation=activation)).build())
    loss_conf(Activation.IDENTITY)
    loss_conf(Activation.SOFTMAX, n_in=1)
    with pytest.raises(ValueError, match=r"output layer '1' \(LossLayer\): loss MCXENT, "
                                         r"activation RELU"):
        loss_conf(Activation.RELU)


def test_an_output_layer_inside_a_frozen_wrapper_is_checked():
    with pytest.raises(ValueError, match=r"'1' \(FrozenLayerWithBackprop<OutputLayer>\): loss "
                                         r"MCXENT, activation RELU"):
        _list_conf(FrozenLayerWithBackprop(_output(A.RELU, L.MCXENT, 3)))


def test_softmax_over_one_output_would_not_learn():
    """Why rule 1 exists: with validation off, the network builds, scores 0 and never moves."""
    net = MultiLayerNetwork(_list_conf(_output(A.SOFTMAX, L.MCXENT, 1), validate=False)).init()
    rng = np.random.default_rng(0)
    data = DataSet(rng.normal(size=(8, 3)).astype(np.float32), np.ones((8, 1), np.float32))
    before = {k: np.array(v) for k, v in net.param_table().items()}
    net.fit(data)
    assert net.score() == pytest.approx(0.0, abs=1e-6)
    for key in ("1_W", "1_b"):
        np.testing.assert_array_equal(np.array(net.get_param(key)), before[key])


# -- the transfer builders --------------------------------------------------------------------

def _mln():
    return MultiLayerNetwork(_list_conf(_output(A.SOFTMAX, L.MCXENT, 3))).init()


def _graph():
    return ComputationGraph(_graph_conf(_output(A.SOFTMAX, L.MCXENT, 3))).init()


def _new_output(builder, out):
    if isinstance(builder, TransferLearning.Builder):
        return builder.remove_output_layer().add_layer(out)
    return builder.remove_vertex_keep_connections("out").add_layer("out", out, "hidden")


@pytest.mark.parametrize("make", [lambda: TransferLearning.Builder(_mln()),
                                  lambda: TransferLearning.GraphBuilder(_graph())])
def test_transfer_builders_validate_added_output_layers(make):
    with pytest.raises(ValueError, match="softmax over a single output"):
        _new_output(make(), _output(A.SOFTMAX, L.MCXENT, 1)).build()
    net = _new_output(make(), _output(A.SOFTMAX, L.MCXENT, 1)) \
        .validate_output_layer_config(False).build()
    assert net.layer_size(1 if isinstance(net, MultiLayerNetwork) else "out") == 1


@pytest.mark.parametrize("make", [lambda: TransferLearning.Builder(_mln()),
                                  lambda: TransferLearning.GraphBuilder(_graph())])
def test_a_fine_tune_activation_imposed_on_the_output_layer_is_checked(make):
    """FineTuneConfiguration.activation(RELU) reaches every original layer, the softmax output
    layer too: DL4J's builders refuse the result, and so do these."""
    ftc = FineTuneConfiguration.Builder().activation(Activation.RELU).updater(Sgd(0.1)).build()
    with pytest.raises(ValueError, match="loss MCXENT, activation RELU"):
        make().fine_tune_configuration(ftc).build()
