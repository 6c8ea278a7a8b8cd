"""A tiny network with the layout and vertex names of DL4J's pretrained VGG16 (input_1,
block1_conv1 .. block5_pool, flatten, fc1, fc2, predictions), small enough to train in tests.

Channels are a few per block instead of 64..512 and the input is 32x32, so block5_pool is
[batch, C, 1, 1]; ``predictions`` is a softmax DenseLayer, as in the pretrained model.
"""

import numpy as np

from minidl import (Activation, CnnToFeedForwardPreProcessor, ComputationGraph, ConvolutionLayer,
                    ConvolutionMode, DataSet, DenseLayer, InputType, Nesterovs,
                    NeuralNetConfiguration, OptimizationAlgorithm, PoolingType, PreprocessorVertex,
                    SubsamplingLayer)

BLOCKS = (2, 2, 3, 3, 3)  # convolutions per block, as VGG16
CHANNELS = (2, 3, 4, 4, 4)
FC = 8
CLASSES = 10
SIDE = 32


def conv_names():
    return [f"block{b}_conv{k}" for b, n in enumerate(BLOCKS, 1) for k in range(1, n + 1)]


def vgg_like(seed=42):
    """The initialised graph (random weights from ``seed``)."""
    builder = (NeuralNetConfiguration.Builder().seed(seed).updater(Nesterovs())
               .optimization_algo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
               .activation(Activation.RELU).graph_builder().add_inputs("input_1"))
    previous = "input_1"
    for block, (n_convs, channels) in enumerate(zip(BLOCKS, CHANNELS), 1):
        for k in range(1, n_convs + 1):
            name = f"block{block}_conv{k}"
            builder.add_layer(name, ConvolutionLayer(kernel_size=(3, 3), n_out=channels,
                                                     convolution_mode=ConvolutionMode.Same),
                              previous)
            previous = name
        builder.add_layer(f"block{block}_pool", SubsamplingLayer(
            pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)), previous)
        previous = f"block{block}_pool"
    builder.add_vertex("flatten", PreprocessorVertex(
        CnnToFeedForwardPreProcessor(1, 1, CHANNELS[-1])), previous)
    builder.add_layer("fc1", DenseLayer(n_out=FC), "flatten")
    builder.add_layer("fc2", DenseLayer(n_out=FC), "fc1")
    builder.add_layer("predictions", DenseLayer(n_out=CLASSES, activation=Activation.SOFTMAX),
                      "fc2")
    conf = builder.set_outputs("predictions").set_input_types(
        InputType.convolutional(SIDE, SIDE, 3)).build()
    return ComputationGraph(conf).init()


def images(n, n_classes, seed=0):
    """``n`` random 3x32x32 images with one-hot labels over ``n_classes``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3, SIDE, SIDE)).astype(np.float32)
    y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, n)]
    return DataSet(x, y)
