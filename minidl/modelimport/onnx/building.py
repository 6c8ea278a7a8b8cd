"""The last step of an import: the vertices collected so far become a ComputationGraph.

The configuration is DL4J's (``graph_builder()``, with the network's input type where the
input is an NCHW feature map or a feature vector: a tf2onnx model's NHWC input has no DL4J
input type, and every imported layer knows its n_in anyway). The weights go in with
``init_from_tables``: no random initialisation to overwrite.
"""

from minidl.modelimport.onnx.graph import OnnxImportError
from minidl.nn.conf.enums import Activation
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.configuration import NeuralNetConfiguration
from minidl.nn.graph import ComputationGraph
from minidl.nn.layers import Layer


def _output_vertices(g, graph):
    names = []
    for output in graph.output:
        value = g.values.get(output.name)
        if value is None or value.is_const:
            raise OnnxImportError(f"{g.path}: graph output {output.name!r} is a constant, not "
                                  f"computed from the input")
        vertex = g.data(_Named(output.name), value)
        if vertex in g.inputs:
            raise OnnxImportError(f"{g.path}: graph output {output.name!r} is the input itself")
        names.append(vertex)
    return names


class _Named:
    """Stands in for a node in error messages about graph outputs."""

    def __init__(self, name):
        self.name, self.op_type, self.output = name, "output", [name]


def _input_type(g):
    """DL4J's input type for the network's input: an NCHW feature map or a feature vector;
    None for anything else (an NHWC image that a Transpose turns into NCHW first)."""
    shape, name = g.input_shape, g.inputs[0]
    transposed = any(type(vertex).__name__ == "TransposeVertex" and name in sources
                     for vertex, sources in g.vertices.values())
    if len(shape) == 3 and not transposed:
        return InputType.convolutional(shape[1], shape[2], shape[0])
    if len(shape) == 1:
        return InputType.feed_forward(shape[0])
    return None


def _ancestors(g, outputs):
    found, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name not in found and name in g.vertices:
            found.add(name)
            stack.extend(g.vertices[name][1])
    return found


def build_network(g, graph):
    """The initialised ComputationGraph of GraphState ``g`` (after every node converted)."""
    outputs = _output_vertices(g, graph)
    builder = (NeuralNetConfiguration.Builder().activation(Activation.IDENTITY)
               .graph_builder().add_inputs(*g.inputs))
    input_type = _input_type(g)
    if input_type is not None:
        builder.set_input_types(input_type)
    needed = _ancestors(g, outputs)  # nodes whose results nothing reads make no vertex
    for name, (vertex, sources) in g.vertices.items():
        if name not in needed:
            continue
        if isinstance(vertex, Layer):
            builder.add_layer(name, vertex, *sources)
        else:
            builder.add_vertex(name, vertex, *sources)
    conf = builder.set_outputs(*outputs).build()
    return ComputationGraph(conf).init_from_tables(g.params)
