"""JSON: every configuration element survives to_json -> from_json unchanged."""

import json

import pytest

from minidl import (Activation, ActivationLayer, AdaGrad, Adam, BatchNormalization,
                    CnnToFeedForwardPreProcessor, ComputationGraphConfiguration,
                    ConvolutionLayer, ConvolutionMode, DenseLayer, DropoutLayer,
                    ElementWiseVertex, FrozenLayer, FrozenLayerWithBackprop, GlobalPoolingLayer,
                    InputType, LossFunction, LossLayer, MergeVertex, MultiLayerConfiguration,
                    Nesterovs, NeuralNetConfiguration, NormalDistribution, NoOp, OutputLayer,
                    PoolingType, PreprocessorVertex, RmsProp, Sgd, SubsamplingLayer,
                    SubsetVertex, UniformDistribution, WeightInit)
from minidl import serde


def _multilayer():
    return (NeuralNetConfiguration.Builder().seed(5).updater(Nesterovs(0.01, 0.8))
            .l2(1e-4).weight_init(WeightInit.RELU).list()
            .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=4, activation=Activation.RELU,
                                    convolution_mode=ConvolutionMode.Same))
            .layer(BatchNormalization())
            .layer(SubsamplingLayer(pooling_type=PoolingType.AVG, kernel_size=(2, 2)))
            .layer(FrozenLayer(DenseLayer(n_out=6, weight_init=NormalDistribution(0, 0.1))))
            .layer(DropoutLayer(dropout=0.5))
            .layer(DenseLayer(n_out=5, updater=Adam(0.002), bias_updater=Sgd(0.1),
                              weight_init=UniformDistribution(-0.1, 0.1)))
            .layer(ActivationLayer(activation=Activation.TANH))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX,
                               loss=LossFunction.NEGATIVELOGLIKELIHOOD))
            .set_input_type(InputType.convolutional_flat(8, 8, 1)).build())


def _graph():
    return (NeuralNetConfiguration.Builder().seed(2).updater(RmsProp(0.01)).graph_builder()
            .add_inputs("img", "vec")
            .add_layer("conv", ConvolutionLayer(kernel_size=(2, 2), n_out=3), "img")
            .add_layer("gp", GlobalPoolingLayer(pooling_type=PoolingType.MAX), "conv")
            .add_vertex("pre", PreprocessorVertex(CnnToFeedForwardPreProcessor(3, 3, 3)), "conv")
            .add_layer("fv", DenseLayer(n_out=3, updater=AdaGrad(0.1)), "vec")
            .add_vertex("sum", ElementWiseVertex(ElementWiseVertex.Op.Max), "gp", "fv")
            .add_vertex("sub", SubsetVertex(0, 9), "pre")
            .add_vertex("merge", MergeVertex(), "sum", "sub")
            .add_layer("fb", FrozenLayerWithBackprop(DenseLayer(n_out=4, updater=NoOp())), "merge")
            .add_layer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "fb")
            .add_layer("loss", LossLayer(loss=LossFunction.MSE), "sum")
            .set_outputs("out", "loss")
            .set_input_types(InputType.convolutional(4, 4, 1), InputType.feed_forward(5)).build())


@pytest.mark.parametrize("make, cls", [(_multilayer, MultiLayerConfiguration),
                                       (_graph, ComputationGraphConfiguration)])
def test_round_trip_is_equal(make, cls):
    conf = make()
    text = conf.to_json()
    back = cls.from_json(text)
    assert back == conf
    assert back.to_json() == text
    assert cls.fromJson(text) == conf  # DL4J spelling


def test_json_is_tagged_and_sorted():
    data = json.loads(_multilayer().to_json())
    assert data["@class"] == "MultiLayerConfiguration"
    layer = data["layers"][0]
    assert layer["@class"] == "ConvolutionLayer"
    assert layer["activation"] == {"@enum": "Activation", "name": "RELU"}
    assert layer["updater"] == {"@class": "Nesterovs", "learning_rate": 0.01, "momentum": 0.8}
    assert data["layers"][3]["@class"] == "FrozenLayer"
    assert data["layers"][3]["layer"]["@class"] == "DenseLayer"


def test_frozen_state_survives_the_round_trip():
    back = MultiLayerConfiguration.from_json(_multilayer().to_json())
    assert back.layers[3].frozen and type(back.layers[3]).__name__ == "FrozenLayer"
    assert back.layers[3].layer.weight_init == NormalDistribution(0, 0.1)


def test_wrong_configuration_kind():
    with pytest.raises(ValueError, match="holds a MultiLayerConfiguration, not a "
                                         "ComputationGraphConfiguration"):
        ComputationGraphConfiguration.from_json(_multilayer().to_json())


def test_unknown_class_and_unknown_field():
    with pytest.raises(ValueError, match="unknown configuration class 'NoSuchLayer'"):
        serde.from_json('{"@class": "NoSuchLayer"}')
    with pytest.raises(ValueError, match=r"DenseLayer has no field\(s\) \['n_outs'\]"):
        serde.from_json('{"@class": "DenseLayer", "n_outs": 3}')


def test_unserialisable_value_is_named():
    with pytest.raises(TypeError, match="cannot serialise object"):
        serde.to_json(DenseLayer(n_out=2, weight_init=object()))


def test_graph_order_and_parameter_order_survive_the_round_trip():
    from minidl import ComputationGraph
    conf = _graph()
    back = ComputationGraphConfiguration.from_json(conf.to_json())
    assert back.topological_order() == conf.topological_order()
    assert list(ComputationGraph(back).init().param_table()) == \
        list(ComputationGraph(conf).init().param_table())


def test_pooling_json_without_the_include_pad_flag_means_true_as_in_old_dl4j():
    # DL4J wrote no avgPoolIncludePadInDivisor before 1.0.0-beta5; such models included padding.
    data = json.loads(serde.to_json(SubsamplingLayer(pooling_type=PoolingType.AVG, padding=1)))
    assert data.pop("avg_pool_include_pad_in_divisor") is False  # new layers: DL4J's false
    old = serde.from_dict(data)
    assert old.avg_pool_include_pad_in_divisor is True
    assert serde.from_json(serde.to_json(old)) == old  # once written, the flag stays
