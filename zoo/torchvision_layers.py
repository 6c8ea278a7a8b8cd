"""A torchvision state_dict -> Keras-layout layers for the graph's layers, by a name map.

torchvision names its tensors by module (``layer2.1.conv1.weight``, ``features.3.conv.1.0``);
an architecture's weight module gives the map from our vertex names to those modules. Here the
tensors of each layer are gathered and put in Keras' layouts, so that the one checked converter,
``zoo.keras_layers.weights_for_graph``, reads Keras and torchvision files alike:

* BatchNorm2d: weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
  moving_variance (``num_batches_tracked`` is dropped);
* a depthwise Conv2d (groups = C): weight [C*m, 1, kh, kw] -> (kh, kw, C, m)
  (``minidl.ops.depthwise.from_torch``);
* Conv2d: weight [n_out, n_in, kh, kw] -> (kh, kw, n_in, n_out), bias if any;
* Linear: weight [out, in] -> (in, out), bias.
"""

from minidl.nn.graph import ComputationGraph
from minidl.nn.layers import BatchNormalization, ConvolutionLayer, DepthwiseConvolution2D
from minidl.ops.depthwise import from_torch
from zoo.formats import WeightFileError


def _keras_layout(layer, module, state_dict):
    """A torchvision module's tensors in Keras' order and layouts (what weights_for_graph reads)."""
    if isinstance(layer, BatchNormalization):
        return [state_dict[f"{module}.{k}"] for k in ("weight", "bias", "running_mean",
                                                      "running_var")]
    weight = state_dict[f"{module}.weight"]
    bias = [state_dict[f"{module}.bias"]] if f"{module}.bias" in state_dict else []
    if isinstance(layer, DepthwiseConvolution2D):  # before ConvolutionLayer: a subclass of it
        return [from_torch(weight, layer.depth_multiplier)] + bias
    if isinstance(layer, ConvolutionLayer):  # [n_out, n_in, kh, kw] -> (kh, kw, n_in, n_out)
        return [weight.transpose(2, 3, 1, 0)] + bias
    return [weight.T, state_dict[f"{module}.bias"]]  # Linear [out, in] -> Dense (in, out)


def keras_layers_from_state_dict(state_dict, conf, module_name, path, network):
    """{vertex: [arrays in Keras' layouts]} for every layer with parameters of ``conf``.

    ``module_name(vertex)`` is torchvision's module of a vertex; ``network`` names the source
    in errors ("torchvision's ResNet-50"). Raises WeightFileError naming the first module the
    file lacks (in network order), or the file's keys that no layer reads.
    """
    layers, used = {}, set()
    for name, layer in ComputationGraph(conf).layer_items():
        if not layer.param_shapes():
            continue
        module = module_name(name)
        keys = [k for k in state_dict if k.startswith(f"{module}.")]
        if not keys:
            raise WeightFileError(f"{path}: no {module}.* ({name}), which {network} has: "
                                  f"weights of another architecture?")
        try:
            layers[name] = _keras_layout(layer, module, state_dict)
        except KeyError as missing:
            raise WeightFileError(f"{path}: no {missing.args[0]} ({name}), which {network} "
                                  f"has") from None
        except ValueError as error:  # from_torch: not a depthwise weight
            raise WeightFileError(f"{path}: {module} ({name}) does not fit {network}: "
                                  f"{error}") from None
        used.update(keys)
    extra = [k for k in state_dict if k not in used and not k.endswith("num_batches_tracked")]
    if extra:
        raise WeightFileError(f"{path}: keys {extra[:4]} are not in {network}: weights of "
                              f"another architecture?")
    return layers
