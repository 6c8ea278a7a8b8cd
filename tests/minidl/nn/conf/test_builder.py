"""Generated builders: both spellings, positional arguments, validation at the setter."""

import pytest

from minidl import (Activation, Adam, ConvolutionLayer, DenseLayer, FrozenLayer,
                    LossFunction, LossFunctions, NeuralNetConfiguration, OutputLayer, PoolingType,
                    SubsamplingLayer, WeightInit)


def test_camel_snake_and_kwargs_build_equal_layers():
    camel = (OutputLayer.Builder(LossFunction.NEGATIVELOGLIKELIHOOD).nIn(4096).nOut(5)
             .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build())
    snake = (OutputLayer.Builder(LossFunction.NEGATIVELOGLIKELIHOOD).n_in(4096).n_out(5)
             .weight_init(WeightInit.XAVIER).activation(Activation.SOFTMAX).build())
    kwargs = OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=4096, n_out=5,
                         weight_init=WeightInit.XAVIER, activation=Activation.SOFTMAX)
    assert camel == snake == kwargs
    assert camel.n_in == 4096 and camel.loss is LossFunction.NEGATIVELOGLIKELIHOOD


def test_dl4j_nested_loss_spelling_and_string_enums():
    layer = OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation("softmax") \
        .build()
    assert layer.loss is LossFunction.MCXENT and layer.activation is Activation.SOFTMAX


def test_convolution_builder_varargs_become_pairs():
    a = ConvolutionLayer.Builder(3, 3).stride(2, 1).padding(1, 1).nIn(2).nOut(4).build()
    b = ConvolutionLayer(kernel_size=(3, 3), stride=(2, 1), padding=(1, 1), n_in=2, n_out=4)
    c = ConvolutionLayer.Builder().kernelSize(3, 3).stride(2, 1).padding(1, 1).nIn(2).nOut(4).build()
    assert a == b == c
    assert a.kernel_size == (3, 3) and a.stride == (2, 1)


def test_a_single_int_kernel_means_a_square():
    assert ConvolutionLayer(kernel_size=3, n_out=1).kernel_size == (3, 3)


def test_subsampling_builder_positional_pooling_type():
    a = SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build()
    assert a == SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2))


def test_aliases_name_and_dropout():
    a = DenseLayer.Builder().name("fc").dropOut(0.5).nOut(3).build()
    b = DenseLayer.Builder().layerName("fc").dropout(0.5).nOut(3).build()
    assert a == b == DenseLayer(name="fc", dropout=0.5, n_out=3)


def test_misspelt_setter_fails_at_once_and_lists_settings():
    with pytest.raises(AttributeError, match=r"DenseLayer\.Builder has no setting 'nOutt'.*n_out"):
        DenseLayer.Builder().nOutt(3)


def test_too_many_positional_arguments():
    with pytest.raises(TypeError, match=r"OutputLayer\.Builder takes at most 1"):
        OutputLayer.Builder(LossFunction.MCXENT, 3)


def test_bad_enum_value_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown Activation 'relux'.*RELU"):
        DenseLayer(activation="relux")


def test_frozen_layer_builder_wraps():
    inner = DenseLayer(n_in=2, n_out=3, name="fc")
    assert FrozenLayer.Builder(inner).build() == FrozenLayer(layer=inner) == FrozenLayer(inner)
    assert FrozenLayer(inner).name == "fc"


def test_global_builder_both_spellings_equal():
    a = (NeuralNetConfiguration.Builder().seed(3).updater(Adam(0.01)).weightInit(WeightInit.RELU)
         .l2(1e-4).activation(Activation.RELU).build())
    b = (NeuralNetConfiguration.Builder().seed(3).updater(Adam(0.01)).weight_init(WeightInit.RELU)
         .l2(1e-4).activation(Activation.RELU).build())
    c = NeuralNetConfiguration(seed=3, updater=Adam(0.01), weight_init=WeightInit.RELU, l2=1e-4,
                               activation=Activation.RELU)
    assert a == b == c
