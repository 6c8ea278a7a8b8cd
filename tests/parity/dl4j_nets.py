"""Small helpers shared by the DL4J parity tests: building networks as DL4J's tests do, random
data like ``Nd4j.rand``, and the parameter comparisons the tests make.

DL4J's tests compare INDArrays with ``assertEquals``, which allows a relative difference of about
1e-5; where both sides run the same float32 operations in the same order we ask for more
(bit-for-bit) and say so in the test.
"""

import numpy as np

from minidl import ComputationGraph, GraphVertex, MultiLayerNetwork, NeuralNetConfiguration


def rand(rng, *shape):
    """``Nd4j.rand(shape)``: uniform [0, 1), float32."""
    return rng.random(shape).astype(np.float32)


def one_hot(rng, n, n_classes):
    return np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, n)]


def global_conf(**settings):
    """``NeuralNetConfiguration.Builder()`` with the given global settings."""
    builder = NeuralNetConfiguration.Builder()
    for name, value in settings.items():
        getattr(builder, name)(value)
    return builder


def mln(layers, input_type=None, params=None, preprocessors=None, **settings):
    """An initialised MultiLayerNetwork of ``layers`` (params drawn from the seed, or copied)."""
    builder = global_conf(**settings).list()
    for layer in layers:
        builder.layer(layer)
    for index, preprocessor in (preprocessors or {}).items():
        builder.input_pre_processor(index, preprocessor)
    if input_type is not None:
        builder.set_input_type(input_type)
    return MultiLayerNetwork(builder.build()).init(params)


def graph_conf(inputs, vertices, outputs, input_types=(), **settings):
    """A ComputationGraphConfiguration; ``vertices`` is a list of (name, layer/vertex, inputs)."""
    builder = global_conf(**settings).graph_builder().add_inputs(*inputs)
    for name, vertex, vertex_inputs in vertices:
        if isinstance(vertex, GraphVertex):
            builder.add_vertex(name, vertex, *vertex_inputs)
        else:
            builder.add_layer(name, vertex, *vertex_inputs)
    if input_types:
        builder.set_input_types(*input_types)
    return builder.set_outputs(*outputs).build()


def graph(inputs, vertices, outputs, input_types=(), **settings):
    """An initialised ComputationGraph (see ``graph_conf``)."""
    return ComputationGraph(graph_conf(inputs, vertices, outputs, input_types, **settings)).init()


def layer_params(net, key):
    """One layer's parameters as a flat copy (W then b), like ``getLayer(key).params()``."""
    return np.concatenate([t.data.ravel() for t in net.param_tables[str(key)].values()])


def hstack_params(*parts):
    """``Nd4j.hstack`` of flat parameter vectors."""
    return np.concatenate([np.ravel(p) for p in parts])


def snapshot(net):
    """{param key: copy} of every parameter."""
    return {key: value.copy() for key, value in net.param_table().items()}


def changed_keys(before, net):
    """The parameter keys whose values differ from ``before``."""
    now = net.param_table()
    return sorted(k for k in before if not np.array_equal(before[k], now[k]))
