"""Network configuration: global settings, layers, vertices, input types, preprocessors, enums."""

from types import ModuleType as _ModuleType

from minidl.nn.conf.enums import (Activation, LossFunction, LossFunctions, PoolingType,
                                  ConvolutionMode, OptimizationAlgorithm, GradientNormalization,
                                  WorkspaceMode, CacheMode)
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.preprocessors import (InputPreProcessor, CnnToFeedForwardPreProcessor,
                                          FeedForwardToCnnPreProcessor)
from minidl.nn.conf.layers import (Layer, BaseLayer, FeedForwardLayer, DenseLayer, OutputLayer,
                                   BaseOutputLayer, LossLayer, ConvolutionLayer, Convolution2D,
                                   SubsamplingLayer, GlobalPoolingLayer, BatchNormalization,
                                   ActivationLayer, DropoutLayer, FrozenLayer,
                                   FrozenLayerWithBackprop, unwrap)
from minidl.nn.layers import (DepthwiseConvolution2D, SeparableConvolution2D, ZeroPaddingLayer,
                              Cropping2D, RescalingLayer, GroupedConvolution2D,
                              ConstantArithmeticLayer)
from minidl.nn.conf.vertices import (GraphVertex, MergeVertex, ElementWiseVertex, SubsetVertex,
                                     PreprocessorVertex, FrozenVertex)
from minidl.nn.conf.onnx_vertices import (TransposeVertex, ReshapeVertex, BroadcastVertex,
                                          ClipVertex, ScaledActivationVertex)
from minidl.nn.conf.configuration import (NeuralNetConfiguration, MultiLayerConfiguration,
                                          ComputationGraphConfiguration, ListBuilder, GraphBuilder)

# `from minidl.nn.conf import *` (minidl.nn, minidl) brings the names above, never this package's
# submodules: its `layers` would otherwise hide the package minidl.nn.layers.
__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and not isinstance(value, _ModuleType))
