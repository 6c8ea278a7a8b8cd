"""MobileNetV2's weight files -> our flat arrays, every name and shape checked.

* Keras (``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224[_no_top].h5``): layers named
  as our vertices; ``weights_from_keras``. Keras publishes no checksum for these files, so the
  check is the layers: every name and shape must be MobileNetV2's (``weights_for_graph``), and
  the converted file records the source's sha256.
* torchvision (``mobilenet_v2-b0353104.pth``, ``mobilenet_v2-7ebf99e0.pth``; the file name's
  sha256 prefix is checked when it is read, ``zoo.torch_pth``): keys renamed by the map of
  reference/modern-cnns.md §2.7 (``torchvision_name``); ``weights_from_torchvision``.

Both end in ``zoo.keras_layers.weights_for_graph`` against the graph of the right variant
(``zoo.mobilenet.KERAS`` or ``TORCHVISION``: padding and batch-norm epsilon), so a file of
another architecture is refused at the first layer that does not fit.
"""

import re

from zoo.converters import KERAS_TF_PREPROCESSING, ArchitectureConverter, register
from zoo.keras_layers import weights_for_graph
from zoo.mobilenet import KERAS, TORCHVISION, MobileNetV2
from zoo.torchvision_layers import keras_layers_from_state_dict

_BLOCK_LAYER = re.compile(r"(?:block_(\d+)|expanded_conv)_(expand|depthwise|project)(_BN)?$")
# torchvision's modules of a block with an expansion (features.2 ... 17): conv.0 expand
# (Conv2dNormActivation: .0 conv, .1 BN), conv.1 depthwise (the same), conv.2 project, conv.3
# its BN; block 0 (features.1) has no expansion, so its modules count from the depthwise.
_EXPANDED_MODULES = {("expand", False): "conv.0.0", ("expand", True): "conv.0.1",
                     ("depthwise", False): "conv.1.0", ("depthwise", True): "conv.1.1",
                     ("project", False): "conv.2", ("project", True): "conv.3"}
_FIRST_MODULES = {("depthwise", False): "conv.0.0", ("depthwise", True): "conv.0.1",
                  ("project", False): "conv.1", ("project", True): "conv.2"}
_OTHER_MODULES = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1", "Conv_1": "features.18.0",
                  "Conv_1_bn": "features.18.1", "predictions": "classifier.1"}


def is_keras_mobilenetv2(layer_names):
    return "expanded_conv_project" in layer_names


def is_torchvision_mobilenetv2(state_dict):
    return "features.1.conv.0.0.weight" in state_dict


def weights_from_keras(layers, path):
    """Keras MobileNetV2 layers (``read_keras_h5``) -> (our flat weights, include_top)."""
    include_top = "predictions" in layers
    n_classes = layers["predictions"][-1].shape[0] if include_top else 0
    conf = MobileNetV2().pretrained_conf(n_classes, include_top, KERAS)
    return weights_for_graph(layers, conf, path, "MobileNetV2"), include_top


def torchvision_name(vertex):
    """Our vertex name -> torchvision's module: "block_3_depthwise_BN" -> "features.4.conv.1.1"."""
    if vertex in _OTHER_MODULES:
        return _OTHER_MODULES[vertex]
    block, part, bn = _BLOCK_LAYER.match(vertex).groups()
    modules = _EXPANDED_MODULES if block else _FIRST_MODULES
    index = int(block) + 1 if block else 1  # torchvision index = Keras block_id + 1
    return f"features.{index}.{modules[part, bn is not None]}"


def weights_from_torchvision(state_dict, path):
    """A torchvision MobileNetV2 state_dict -> (our flat weights for its graph, include_top)."""
    include_top = "classifier.1.weight" in state_dict
    n_classes = state_dict["classifier.1.bias"].shape[0] if include_top else 0
    conf = MobileNetV2().pretrained_conf(n_classes, include_top, TORCHVISION)
    layers = keras_layers_from_state_dict(state_dict, conf, torchvision_name, path,
                                          "torchvision's MobileNetV2")
    return weights_for_graph(layers, conf, path, "MobileNetV2 (torchvision)"), include_top


register(ArchitectureConverter(
    is_keras=is_keras_mobilenetv2, from_keras=weights_from_keras, keras=KERAS,
    keras_preprocessing=KERAS_TF_PREPROCESSING,
    is_torchvision=is_torchvision_mobilenetv2, from_torchvision=weights_from_torchvision,
    torchvision=TORCHVISION))
