"""Keras layers' weights -> the parameters of a minidl graph whose layers have the same names.

A Keras weight file (``zoo.keras_h5``) lists each layer's weights in a fixed order
(reference/modern-cnns.md §3.5), and each kind of layer has one layout to undo:

* Conv2D: kernel (kh, kw, n_in, n_out), bias (n_out,) -> W [n_out, n_in, kh, kw], b
  (``conv_kernel``, from ``minidl.modelimport.keras.kernels``);
* DepthwiseConv2D: depthwise_kernel (kh, kw, C, m) [, bias] -> W, b unchanged
  (DepthwiseConvolution2D keeps Keras' layout);
* BatchNormalization: gamma, beta, moving_mean, moving_variance, each (C,) -> gamma, beta,
  mean, var, unchanged;
* Dense: kernel (n_in, n_out), bias -> W, b, unchanged (after a global pooling the features
  need no reordering; VGG's fc1, after a flatten, does: ``zoo.converters``).

``weights_for_graph`` walks the graph's layers in order, finds each one's Keras layer by name and
checks every shape against what the layer needs, so a file of another architecture is refused
at the first layer that does not fit, naming it, rather than loaded half-way.
"""

import collections

from minidl.modelimport.keras.kernels import conv_kernel
from minidl.nn.layers import (BatchNormalization, ConvolutionLayer, DenseLayer,
                              DepthwiseConvolution2D, SeparableConvolution2D)
from minidl.nn.graph import ComputationGraph
from zoo.formats import WeightFileError


def _transposed(layer, param):
    """Whether Keras keeps ``param`` of ``layer`` in another layout than ours: a Conv2D kernel
    (a DepthwiseConvolution2D, a ConvolutionLayer too, has Keras' layout already)."""
    return (param == "W" and isinstance(layer, ConvolutionLayer)
            and not isinstance(layer, DepthwiseConvolution2D))


def _keras_shape(layer, param, shape):
    """Where the Keras file keeps ``param`` of ``layer``: our shape in Keras' layout."""
    if _transposed(layer, param):
        n_out, n_in, kh, kw = shape
        return kh, kw, n_in, n_out
    return tuple(shape)


def _ours(layer, param, array):
    return conv_kernel(array) if _transposed(layer, param) else array


def _check_kind(name, layer, path):
    # a SeparableConvolution2D is a ConvolutionLayer with a second kernel of its own layout
    if (not isinstance(layer, (ConvolutionLayer, BatchNormalization, DenseLayer))
            or isinstance(layer, SeparableConvolution2D)):
        raise WeightFileError(f"{path}: layer {name} is a {type(layer).__name__}, whose Keras "
                              f"weights minidl cannot read")


def weights_for_graph(layers, conf, path, architecture):
    """Keras ``layers`` (name -> list of arrays, as ``read_keras_h5`` gives them) -> our flat
    ``{"<vertex>_<param>": array}`` for the graph configuration ``conf``.

    Raises WeightFileError naming the first layer of ``conf`` (in network order) that the file
    lacks or whose weights have other shapes, or the file's layers that ``conf`` lacks.
    """
    weights, expected = collections.OrderedDict(), set()
    for name, layer in ComputationGraph(conf).layer_items():
        shapes = layer.param_shapes()
        if not shapes:
            continue
        _check_kind(name, layer, path)
        expected.add(name)
        wanted = [_keras_shape(layer, param, shape) for param, shape in shapes.items()]
        if name not in layers:
            raise WeightFileError(f"{path}: no layer {name}, which {architecture} needs (weights "
                                  f"of {wanted}); the file's first layers are "
                                  f"{list(layers)[:4]}: weights of another architecture?")
        found = [tuple(a.shape) for a in layers[name]]
        if found != wanted:
            raise WeightFileError(f"{path}: layer {name} does not fit {architecture}: its "
                                  f"weights have shapes {found}, {architecture} needs {wanted}")
        for (param, _), array in zip(shapes.items(), layers[name]):
            weights[f"{name}_{param}"] = _ours(layer, param, array).copy()
    extra = [name for name in layers if name not in expected]
    if extra:
        raise WeightFileError(f"{path}: layers {extra[:4]}{' ...' if len(extra) > 4 else ''} "
                              f"are not in {architecture}: weights of another architecture?")
    return weights
