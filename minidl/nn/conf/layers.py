"""The layers' former home, kept so that existing imports keep working.

The layers live in ``minidl.nn.layers``, one module per family (``dense``, ``output``,
``convolution``, ``pooling``, ``normalization``, ``activation``, ``dropout``, ``freezing``;
``base`` for what they share). New code imports from there.
"""

from minidl.nn.layers import (DL4J_DEFAULTS, LOSSES, ActivationLayer, BaseLayer,  # noqa: F401
                              BaseOutputLayer, BatchNormalization, Context, Convolution2D,
                              ConvolutionLayer, DenseLayer, DropoutLayer, FeedForwardLayer,
                              FrozenLayer, FrozenLayerWithBackprop, GlobalPoolingLayer, Layer,
                              LossLayer, OutputLayer, SubsamplingLayer, loss_and_output, unwrap)
