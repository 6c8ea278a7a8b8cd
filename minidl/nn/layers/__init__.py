"""The layers, one module per family; this index exports every one of them.

Each layer is one dataclass that is at once its configuration (DL4J's fields), its shape
inference (``output_type``), its parameters (``param_shapes``, ``init_params``) and its forward
pass through ``minidl.ops`` (autograd gives the backward). ``base`` holds what they all share.

A new layer is one class in one module here plus its import line below (see "Adding a layer"
in docs/how-it-works.md): the index makes it importable and readable back from saved JSON.
"""

from minidl import serde
from minidl.nn.layers.base import DL4J_DEFAULTS, BaseLayer, Context, FeedForwardLayer, Layer
from minidl.nn.layers.dense import DenseLayer
from minidl.nn.layers.output import BaseOutputLayer, LossLayer, LOSSES, OutputLayer, loss_and_output
from minidl.nn.layers.convolution import Convolution2D, ConvolutionLayer
from minidl.nn.layers.depthwise import DepthwiseConvolution2D, SeparableConvolution2D
from minidl.nn.layers.pooling import GlobalPoolingLayer, SubsamplingLayer
from minidl.nn.layers.padding import ZeroPaddingLayer
from minidl.nn.layers.cropping import Cropping2D
from minidl.nn.layers.normalization import BatchNormalization
from minidl.nn.layers.activation import ActivationLayer
from minidl.nn.layers.dropout import DropoutLayer
from minidl.nn.layers.rescaling import RescalingLayer
from minidl.nn.layers.freezing import FrozenLayer, FrozenLayerWithBackprop, unwrap
from minidl.nn.layers.grouped_convolution import GroupedConvolution2D
from minidl.nn.layers.constant import ConstantArithmeticLayer


def _layer_names(namespace):
    """The names in ``namespace`` bound to layer classes (Convolution2D too: an alias)."""
    return sorted(name for name, value in namespace.items()
                  if isinstance(value, type) and issubclass(value, Layer))


# `from minidl.nn.layers import *` brings every layer class; the helpers are imported by name.
__all__ = _layer_names(globals())

# A saved configuration names each layer by its class ({"@class": "DenseLayer", ...}): every
# layer exported here is one that serde can read back.
for _name in __all__:
    serde.register(globals()[_name])
