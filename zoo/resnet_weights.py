"""ResNet50's weight files -> our flat arrays, every name and shape checked.

* Keras (``resnet50_weights_tf_dim_ordering_tf_kernels[_notop].h5``): layers named as our
  vertices; ``weights_from_keras``. The *older* Keras ResNet50 file has the same file name but
  other layer names (``bn_conv1``, ``res2a_branch2a``) and batch-norm epsilon 1e-3: refused,
  saying so.
* torchvision (``resnet50-0676ba61.pth``, ``resnet50-11ad3fa6.pth``): ResNet v1.5, keys renamed
  by the map of reference/modern-cnns.md §1.6 (``layer{S-1}.{B-1}.conv{k}`` is
  ``conv{S}_block{B}_{k}_conv``, ``downsample.0/.1`` the projection ``_0_conv``/``_0_bn``,
  ``fc`` is ``predictions``); ``weights_from_torchvision``.

Both end in ``zoo.keras_layers.weights_for_graph`` against the graph of the right variant, so a
file of another architecture is refused at the first layer that does not fit.
"""

import re

from zoo.formats import WeightFileError
from zoo.converters import KERAS_PREPROCESSING, ArchitectureConverter, register
from zoo.keras_layers import weights_for_graph
from zoo.resnet import KERAS, OLD_KERAS_LAYERS, TORCHVISION, ResNet50
from zoo.torchvision_layers import keras_layers_from_state_dict

_BLOCK_LAYER = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)$")


def is_keras_resnet50(layer_names):
    """Whether Keras layer names are ResNet50's, current or old (the old ones are refused by
    ``weights_from_keras``, which says why)."""
    return "conv1_conv" in layer_names or "bn_conv1" in layer_names


def is_torchvision_resnet(state_dict):
    return "layer1.0.conv1.weight" in state_dict


def weights_from_keras(layers, path):
    """Keras ResNet50 layers (``read_keras_h5``) -> (our flat weights, include_top)."""
    old = [name for name in OLD_KERAS_LAYERS if name in layers]
    if old:
        raise WeightFileError(
            f"{path}: this is the older Keras ResNet50 (keras_applications' resnet50.py, layers "
            f"{old} ...; batch norm epsilon 1e-3), a different file under the same name; minidl "
            f"reads the current one (layers conv1_conv, conv2_block1_1_conv, ...; md5 "
            f"2cb95161c43110f7111970584f804107, notop 4d473c1dd8becc155b73f8504c6f6626)")
    include_top = "predictions" in layers
    n_classes = layers["predictions"][-1].shape[0] if include_top else 0
    conf = ResNet50().pretrained_conf(n_classes, include_top, KERAS)
    return weights_for_graph(layers, conf, path, "ResNet50"), include_top


def torchvision_name(vertex):
    """Our vertex name -> torchvision's module name: "conv3_block2_1_conv" -> "layer2.1.conv1"."""
    if vertex in ("conv1_conv", "conv1_bn"):
        return "conv1" if vertex.endswith("conv") else "bn1"
    if vertex == "predictions":
        return "fc"
    stage, block, part, kind = _BLOCK_LAYER.match(vertex).groups()
    module = f"layer{int(stage) - 1}.{int(block) - 1}"
    if part == "0":
        return f"{module}.downsample.{0 if kind == 'conv' else 1}"
    return f"{module}.{kind}{part}"


def weights_from_torchvision(state_dict, path):
    """A torchvision ResNet-50 state_dict -> (our flat weights for the v1.5 graph, include_top).

    The tensors are renamed and put in Keras' layouts (``zoo.torchvision_layers``) so that the
    one checked converter (``weights_for_graph``) reads both kinds of file.
    """
    include_top = "fc.weight" in state_dict
    n_classes = state_dict["fc.bias"].shape[0] if include_top else 0
    conf = ResNet50().pretrained_conf(n_classes, include_top, TORCHVISION)
    layers = keras_layers_from_state_dict(state_dict, conf, torchvision_name, path,
                                          "torchvision's ResNet-50")
    return weights_for_graph(layers, conf, path, "ResNet50 v1.5 (torchvision)"), include_top


register(ArchitectureConverter(
    is_keras=is_keras_resnet50, from_keras=weights_from_keras, keras=KERAS,
    keras_preprocessing=KERAS_PREPROCESSING,
    is_torchvision=is_torchvision_resnet, from_torchvision=weights_from_torchvision,
    torchvision=TORCHVISION))
