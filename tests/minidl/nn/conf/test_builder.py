"""Generated builders: both spellings, positional arguments, validation at the setter."""

import pytest

from minidl import (Activation, Adam, CnnToFeedForwardPreProcessor, ConvolutionLayer,
                    DenseLayer, FrozenLayer, InputType, LossFunction, LossFunctions, MergeVertex,
                    NeuralNetConfiguration, OutputLayer, PoolingType, SubsamplingLayer, WeightInit)


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


def test_builder_methods_answer_to_dl4j_spelling_too():
    camel = (NeuralNetConfiguration.Builder().seed(3).graphBuilder()
             .addInputs("in").setInputTypes(InputType.convolutional(4, 4, 1))
             .addLayer("conv", ConvolutionLayer(kernel_size=(3, 3), n_out=2), "in")
             .addLayer("a", DenseLayer(n_out=3), CnnToFeedForwardPreProcessor(2, 2, 2), "conv")
             .addLayer("b", DenseLayer(n_out=3), "conv")
             .addLayer("gone", DenseLayer(n_out=3), "conv").removeVertex("gone")
             .addVertex("merge", MergeVertex(), "a", "b")
             .addLayer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "merge")
             .setOutputs("out").build())
    snake = (NeuralNetConfiguration.Builder().seed(3).graph_builder()
             .add_inputs("in").set_input_types(InputType.convolutional(4, 4, 1))
             .add_layer("conv", ConvolutionLayer(kernel_size=(3, 3), n_out=2), "in")
             .add_layer("a", DenseLayer(n_out=3), CnnToFeedForwardPreProcessor(2, 2, 2), "conv")
             .add_layer("b", DenseLayer(n_out=3), "conv")
             .add_vertex("merge", MergeVertex(), "a", "b")
             .add_layer("out", OutputLayer(n_out=2, activation=Activation.SOFTMAX), "merge")
             .set_outputs("out").build())
    assert camel == snake and camel.toJson() == snake.to_json()


def test_list_builder_methods_answer_to_dl4j_spelling_too():
    camel = (NeuralNetConfiguration.Builder().seed(3).list()
             .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=2)).layer(DenseLayer(n_out=3))
             .inputPreProcessor(1, CnnToFeedForwardPreProcessor(2, 2, 2))
             .setInputType(InputType.convolutional(4, 4, 1)).build())
    snake = (NeuralNetConfiguration.Builder().seed(3).list()
             .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=2)).layer(DenseLayer(n_out=3))
             .input_pre_processor(1, CnnToFeedForwardPreProcessor(2, 2, 2))
             .set_input_type(InputType.convolutional(4, 4, 1)).build())
    assert camel == snake
    assert DenseLayer.Builder().nOut(2).build() == DenseLayer.Builder().n_out(2).build()


def test_unknown_builder_name_lists_settings_and_methods():
    with pytest.raises(AttributeError, match=r"NeuralNetConfiguration\.Builder has no setting "
                                             r"'graphBuildr'; settings: .*seed.*; methods: build, "
                                             r"graph_builder, list"):
        NeuralNetConfiguration.Builder().graphBuildr()


def test_dl4j_memory_and_cudnn_settings_are_accepted_and_dropped():
    """Ported DL4J code sets workspace, cache and cuDNN modes; minidl has none of them, so the
    builders accept them and the configuration is the one built without them."""
    from minidl import (Activation, CacheMode, ConvolutionLayer, InputType, LossFunction,
                        NeuralNetConfiguration, OutputLayer, WorkspaceMode)

    def conf(tuned):
        builder = NeuralNetConfiguration.Builder().seed(1)
        conv = ConvolutionLayer.Builder(3, 3).nOut(4)
        if tuned:
            builder = (builder.trainingWorkspaceMode(WorkspaceMode.ENABLED)
                       .inferenceWorkspaceMode(WorkspaceMode.SINGLE).cacheMode(CacheMode.DEVICE)
                       .cudnnAlgoMode(ConvolutionLayer.AlgoMode.PREFER_FASTEST))
            conv = conv.cudnnAlgoMode(ConvolutionLayer.AlgoMode.NO_WORKSPACE)
        return (builder.list().layer(conv.build())
                .layer(OutputLayer.Builder(LossFunction.MCXENT).nOut(2)
                       .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(8, 8, 1)).build())

    assert conf(True) == conf(False)
    assert conf(True).to_json() == conf(False).to_json()
    with pytest.raises(AttributeError, match="no setting 'cacheModes'"):
        NeuralNetConfiguration.Builder().cacheModes(CacheMode.NONE)


def test_dl4j_positional_constructors_set_the_settings_not_the_name():
    """new GlobalPoolingLayer(PoolingType.AVG) and its kind: the leading value is a setting (it
    used to become the layer's name, leaving MAX pooling); a leading string is still the name."""
    from minidl import ActivationLayer, GlobalPoolingLayer, PoolingType, SubsamplingLayer
    pooled = GlobalPoolingLayer(PoolingType.AVG)
    assert pooled.pooling_type is PoolingType.AVG and pooled.name is None
    assert pooled == GlobalPoolingLayer(pooling_type=PoolingType.AVG)
    sub = SubsamplingLayer(PoolingType.AVG, (3, 3), (1, 1))
    assert (sub.pooling_type, sub.kernel_size, sub.stride) == (PoolingType.AVG, (3, 3), (1, 1))
    assert ActivationLayer(Activation.RELU).activation is Activation.RELU
    assert ConvolutionLayer(3, 3).kernel_size == (3, 3)
    assert DenseLayer("fc").name == "fc"
    with pytest.raises(TypeError, match="pooling_type given twice"):
        GlobalPoolingLayer(PoolingType.AVG, pooling_type=PoolingType.MAX)
