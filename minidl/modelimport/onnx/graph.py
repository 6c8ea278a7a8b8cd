"""The importer's state: ONNX values, the vertices made so far, their names and parameters.

Every ONNX value (an edge of the ONNX graph) becomes a ``Value``: a constant (a NumPy array,
folded at import time) or data, the activation of one vertex of the ComputationGraph being
built. Shapes are per example (the batch axis dropped): the network takes any batch size.

Reshapes of data (Flatten, Reshape, Squeeze, Unsqueeze) make no vertex at once: the Value is a
*view* of its vertex's activation with another shape. Only a consumer that needs the new shape
makes it real (``data``): a Gemm after GlobalAveragePool -> Flatten then reads the pooling
layer's [batch, C] directly, where ONNX had [batch, C, 1, 1] in between.
"""

import dataclasses
import re

import numpy as np

from minidl.nn.conf.enums import Activation
from minidl.nn.conf.preprocessors import CnnToFeedForwardPreProcessor
from minidl.nn.conf.onnx_vertices import ReshapeVertex, type_of
from minidl.nn.conf.vertices import PreprocessorVertex
from minidl.nn.layers import BatchNormalization, ConvolutionLayer, DenseLayer, Layer

# layers an activation that follows them folds into, as DL4J's own layers carry one
ACTIVATION_HOSTS = (ConvolutionLayer, DenseLayer, BatchNormalization)


@dataclasses.dataclass
class Value:
    """One ONNX value: ``const`` (an array) or data, the activation of ``vertex``.

    ``shape`` is the value's per-example shape; ``vertex_shape`` that of the vertex's activation
    when the value is a reshaped view of it (``view_name`` names the vertex that would make the
    view real), else None.
    """

    name: str = None
    shape: tuple = None
    const: np.ndarray = None
    vertex: str = None
    vertex_shape: tuple = None
    view_name: str = None

    @property
    def is_const(self):
        """Whether the value is a constant (folded at import)."""
        return self.const is not None


class OnnxImportError(ValueError):
    """An ONNX model that cannot be imported: what, where and why."""


def legal_name(text):
    """A vertex name from an ONNX node or value name: '/layer1/conv1/Conv' ->
    'layer1_conv1_Conv' (letters, digits, '_', '.', '-')."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")
    return name or "node"


def _output_shape(vertex, shapes):
    """The per-example output shape of ``vertex`` for inputs of per-example ``shapes``, from
    the vertex's own shape inference; None where InputType cannot say (ranks other than 1, 3)."""
    types = [type_of(s) for s in shapes]
    if None in types:
        return None
    out = vertex.output_type(types[0]) if isinstance(vertex, Layer) else \
        vertex.output_type(types)
    return None if out is None else out.shape()


class GraphState:
    """Values, vertices (name -> [vertex, input names]) and parameters of the graph in the
    making, with the ONNX facts the converters ask about (readers, inferred shapes)."""

    def __init__(self, path, opset, shapes, readers, outputs):
        self.path, self.opset = path, opset
        self.shapes = shapes  # ONNX value name -> full inferred shape (dims or None)
        self.readers = readers  # value name -> how many nodes (or graph outputs) read it
        self.outputs = set(outputs)
        self.values, self.vertices, self.params = {}, {}, {}
        self.inputs = []
        self.declared_batch = None  # the input's batch size when the file fixes one
        self.input_shape = None  # the input's per-example shape
        self._taken = set()

    # -- names -----------------------------------------------------------------------------
    def unique(self, base):
        """``base`` made a legal vertex name no other vertex has."""
        name, i = legal_name(base), 1
        candidate = name
        while candidate in self._taken:
            i += 1
            candidate = f"{name}_{i}"
        self._taken.add(candidate)
        return candidate

    def node_name(self, node):
        """The vertex name for ``node``: its name, else its first output's, made legal and
        unique."""
        return self.unique(node.name or node.output[0])

    def where(self, node):
        """How errors name ``node``: the file, the node, its op and the opset."""
        return f"{self.path}: node {node.name or node.output[0]!r} ({node.op_type}, opset " \
               f"{self.opset})"

    def fail(self, node, message):
        """Raise OnnxImportError about ``node``."""
        raise OnnxImportError(f"{self.where(node)}: {message}")

    # -- shapes ----------------------------------------------------------------------------
    def inferred(self, node, value_name):
        """The per-example shape ONNX shape inference found for ``value_name``; raises when a
        dimension is unknown (a model with dynamic spatial sizes)."""
        shape = self.shapes.get(value_name)
        if shape is None or any(d is None for d in shape[1:]):
            self.fail(node, f"the shape of {value_name!r} is not static ({shape}); a layer "
                            f"needs fixed sizes: export the model with a fixed input size "
                            f"(only the batch axis may be dynamic)")
        return tuple(int(d) for d in shape[1:])

    # -- values ----------------------------------------------------------------------------
    def constant(self, node, value, what):
        """The array of ``value``; raises unless it is a constant (``what`` names it)."""
        if value is None or not value.is_const:
            self.fail(node, f"{what} must be a constant (an initializer or folded from "
                            f"constants), got data computed at run time")
        return value.const

    def data(self, node, value):
        """The vertex name whose activation is ``value``; a view is made real here."""
        if value is None or value.is_const:
            self.fail(node, "expected data (the network's input or computed from it), got a "
                            "constant")
        if value.vertex_shape is not None and value.vertex_shape != value.shape:
            source = value.vertex_shape
            vertex = PreprocessorVertex(CnnToFeedForwardPreProcessor(source[1], source[2],
                                                                     source[0])) \
                if len(source) == 3 and len(value.shape) == 1 else ReshapeVertex(value.shape)
            name = self.unique(value.view_name)
            self.vertices[name] = [vertex, [value.vertex]]
            value.vertex = name
        value.vertex_shape = None
        return value.vertex

    def view(self, out_name, value, shape, node):
        """``out_name`` as ``value`` reshaped to per-example ``shape`` (no vertex yet)."""
        source_shape = value.shape if value.vertex_shape is None else value.vertex_shape
        self.values[out_name] = Value(name=out_name, shape=tuple(shape), vertex=value.vertex,
                                      vertex_shape=source_shape,
                                      view_name=node.name or node.output[0])

    def add(self, node, vertex, inputs, params=None, name=None, shape=None):
        """Add ``vertex`` reading the data Values ``inputs``; its activation becomes the node's
        first output. Returns the vertex's name."""
        sources = [self.data(node, v) for v in inputs]
        name = name or self.node_name(node)
        self.vertices[name] = [vertex, sources]
        if params:
            self.params[name] = params
        out = node.output[0]
        if shape is None:
            shape = _output_shape(vertex, [v.shape for v in inputs]) or self.inferred(node, out)
        self.values[out] = Value(name=out, shape=tuple(shape), vertex=name)
        return name

    def alias(self, node, value):
        """The node's first output is ``value`` itself (Identity, inference-mode Dropout)."""
        self.values[node.output[0]] = value

    # -- folding an activation into the layer before it -------------------------------------
    def fuse_activation(self, node, value, activation):
        """Set ``activation`` on the layer that computes ``value`` when DL4J would hold it
        there: a conv, dense or batch norm layer with no activation yet, whose output only this
        node reads. Returns whether it did."""
        host = self._host(value)
        if host is None or host.activation not in (None, Activation.IDENTITY):
            return False
        if activation == Activation.SOFTMAX and not isinstance(host, DenseLayer):
            return False
        host.activation = activation
        self.values[node.output[0]] = value
        return True

    def _host(self, value):
        if value is None or value.is_const or value.vertex_shape is not None:
            return None
        entry = self.vertices.get(value.vertex)
        if entry is None or not isinstance(entry[0], ACTIVATION_HOSTS):
            return None
        return entry[0] if self.sole_reader(value) else None

    def producer(self, value):
        """The vertex object whose activation ``value`` is (not a view), or None."""
        if value is None or value.is_const or value.vertex_shape is not None:
            return None
        entry = self.vertices.get(value.vertex)
        return entry[0] if entry else None

    def sole_reader(self, value):
        """Whether exactly one node reads the activation behind ``value`` (under any of the
        names that alias it or view it) and no graph output is one of them: only then may
        the node change what the vertex computes."""
        names = [n for n, v in self.values.items() if not v.is_const and v.vertex == value.vertex]
        reads = sum(self.readers.get(n, 0) for n in names)
        return reads == 1 and not self.outputs & set(names)
