"""Small helpers shared by the DL4J parity tests: building networks as DL4J's tests do, random
data like ``Nd4j.rand``, and the parameter comparisons the tests make.

DL4J's tests compare INDArrays with ``assertEquals``, which allows a relative difference of about
1e-5; where both sides run the same float32 operations in the same order we ask for more
(bit-for-bit) and say so in the test.

The tests that compute take the ``device`` fixture (tests/conftest.py) and run once per backend:
networks are made on the default device it sets. The parameter helpers below return NumPy copies
(``host``), so comparisons are made on the host; ``per_backend`` keeps one network per backend
for a whole module.
"""

import numpy as np

from devices import host
from minidl import (Activation, ComputationGraph, ComputationGraphConfiguration, DenseLayer,
                    GraphVertex, LossFunction, MultiLayerConfiguration, MultiLayerNetwork,
                    NeuralNetConfiguration, OutputLayer, WeightInit)


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


def graph_conf(inputs, vertices, outputs, input_types=(), validate_output_layer_config=True,
               **settings):
    """A ComputationGraphConfiguration; ``vertices`` is a list of (name, layer/vertex, inputs)."""
    builder = global_conf(**settings).graph_builder().add_inputs(*inputs) \
        .validate_output_layer_config(validate_output_layer_config)
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


def _instantiation_layers(wrap):
    """Two tanh dense layers, each passed through ``wrap`` (a frozen wrapper), and an output."""
    def hidden():
        return DenseLayer(n_in=10, n_out=10, activation=Activation.TANH,
                          weight_init=WeightInit.XAVIER)
    return [wrap(hidden()), wrap(hidden()),
            OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=10, n_out=10)]


def check_instantiation(wrap):
    """DL4J's test*LayerInstantiation: a network with ``wrap``ped layers initialises like the
    plain one, and its configuration survives JSON with the same outputs. Returns the restored
    MultiLayerConfiguration for the caller's own checks."""
    net1 = mln(_instantiation_layers(lambda layer: layer), seed=12345)
    net2 = mln(_instantiation_layers(wrap), seed=12345)
    np.testing.assert_array_equal(host(net1.params()), host(net2.params()))  # same init
    restored = MultiLayerConfiguration.from_json(net2.conf.to_json())
    assert restored == net2.conf and restored.to_json() == net2.conf.to_json()
    x = rand(np.random.default_rng(1), 10, 10)
    net3 = MultiLayerNetwork(restored).init()
    np.testing.assert_array_equal(host(net2.output(x)), host(net3.output(x)))
    return restored


def check_instantiation_comp_graph(wrap):
    """``check_instantiation`` for a ComputationGraph of the same layers."""
    def conf(wrap):
        a, b, o = _instantiation_layers(wrap)
        return graph_conf(["in"], [("0", a, ["in"]), ("1", b, ["0"]), ("2", o, ["1"])], ["2"],
                          seed=12345)

    net1 = ComputationGraph(conf(lambda layer: layer)).init()
    net2 = ComputationGraph(conf(wrap)).init()
    np.testing.assert_array_equal(host(net1.params()), host(net2.params()))
    restored = ComputationGraphConfiguration.from_json(net2.conf.to_json())
    assert restored.to_json() == net2.conf.to_json()
    net3 = ComputationGraph(restored).init()
    x = rand(np.random.default_rng(1), 10, 10)
    np.testing.assert_array_equal(host(net2.output_single(x)), host(net3.output_single(x)))


def layer_params(net, key):
    """One layer's parameters as a flat NumPy copy (W then b), like ``getLayer(key).params()``."""
    return np.concatenate([host(t.data).ravel() for t in net.param_tables[str(key)].values()])


def hstack_params(*parts):
    """``Nd4j.hstack`` of flat parameter vectors, on the host."""
    return np.concatenate([np.ravel(host(p)) for p in parts])


def snapshot(net):
    """{param key: NumPy copy} of every parameter."""
    return {key: host(value).copy() for key, value in net.param_table().items()}


def changed_keys(before, net):
    """The parameter keys whose values differ from ``before`` (a ``snapshot``)."""
    now = host(net.param_table())
    return sorted(k for k in before if not np.array_equal(before[k], now[k]))


def per_backend(cache, request, build):
    """``build()`` once per backend case of the ``device`` fixture (cpu, gpu-emulated, gpu),
    kept in ``cache`` (a module-scoped dict), so module-wide networks live on each backend."""
    key = request.node.callspec.params["device"]
    if key not in cache:
        cache[key] = build()  # on the default device the ``device`` fixture has set
    return cache[key]
