"""Network configurations and the builders that make them, DL4J style.

    conf = (NeuralNetConfiguration.Builder().seed(42).updater(Adam(1e-3))
            .list()
            .layer(DenseLayer(n_out=16, activation=Activation.RELU))
            .layer(OutputLayer(loss=LossFunction.MCXENT, n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4))
            .build())

``NeuralNetConfiguration`` holds the global defaults. ``.list()`` makes a sequential
``MultiLayerConfiguration``; ``.graph_builder()`` a ``ComputationGraphConfiguration`` of named
vertices. Building copies each layer, fills its unset fields from the globals, infers the
input type of every layer (filling ``n_in`` and adding reshaping preprocessors where needed) and
checks the structure, so a mistake surfaces here with the layer's name rather than as a shape
error deep inside a training step.
"""

import copy
import dataclasses
import heapq

from minidl.naming import Dl4jNames
from minidl.serde import JsonConfig
from minidl.nn.conf.builder import Builder
from minidl.nn.conf.enums import ConvolutionMode, OptimizationAlgorithm
from minidl.nn.conf.input_type import InputType
from minidl.nn.conf.layers import Layer
from minidl.nn.conf.output_validation import OutputLayerValidation, validate_output_layers
from minidl.nn.conf.preprocessors import InputPreProcessor, preprocessor_between
from minidl.nn.conf.settings import LayerSettings
from minidl.nn.conf.vertices import GraphVertex

# Global fields that are training settings of the network rather than defaults for layers.
NETWORK_FIELDS = ("seed", "optimization_algo", "mini_batch", "minimize", "data_type")


@dataclasses.dataclass
class NeuralNetConfiguration(LayerSettings, Dl4jNames):
    """Global settings: network-level ones (seed, algorithm) and defaults for every layer."""

    seed: int = None
    optimization_algo: OptimizationAlgorithm = None
    mini_batch: bool = True
    minimize: bool = True
    data_type: str = "float32"
    dropout: float = None
    convolution_mode: ConvolutionMode = None

    builder_aliases = {"drop_out": "dropout", "dist": "weight_init",
                       "optimization_algorithm": "optimization_algo"}
    # DL4J's memory and cuDNN knobs (see enums.WorkspaceMode): set by ported code, no use here
    builder_ignored = ("training_workspace_mode", "inference_workspace_mode", "cache_mode",
                       "cudnn_algo_mode")

    def __post_init__(self):
        super().__post_init__()
        if self.optimization_algo is not None:
            self.optimization_algo = OptimizationAlgorithm.parse(self.optimization_algo)
        if self.convolution_mode is not None:
            self.convolution_mode = ConvolutionMode.parse(self.convolution_mode)
        if self.seed is None:
            self.seed = 12345  # deterministic by default (DL4J's default is the clock)

    def network_settings(self):
        """A copy with only the network-level fields; layer defaults dropped.

        A built configuration keeps only these: the layer defaults have been copied into every
        layer, so storing them again would make two equal networks serialise differently.
        """
        return NeuralNetConfiguration(**{f: getattr(self, f) for f in NETWORK_FIELDS})

    def layer_defaults(self):
        """{field: value} of the set defaults that layers inherit."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in NETWORK_FIELDS and getattr(self, f.name) is not None}


class _NeuralNetConfigurationBuilder(Builder):
    """``NeuralNetConfiguration.Builder()``: global settings, then ``.list()`` or ``.graph_builder()``."""

    target = NeuralNetConfiguration

    def list(self, *layers):
        builder = ListBuilder(self.build())
        for layer in layers:
            builder.layer(layer)
        return builder

    def graph_builder(self):
        return GraphBuilder(self.build())


NeuralNetConfiguration.Builder = _NeuralNetConfigurationBuilder


def _prepared(layer, defaults, name):
    if not isinstance(layer, (Layer, GraphVertex)):
        raise TypeError(f"expected a layer or vertex configuration for {name!r}, got "
                        f"{type(layer).__name__}")
    layer = copy.deepcopy(layer)
    if isinstance(layer, Layer) and getattr(layer, "name", None) is None:
        layer.name = name
    layer.apply_defaults(defaults.layer_defaults())
    return layer


# -- sequential networks ----------------------------------------------------------------------

@dataclasses.dataclass
class MultiLayerConfiguration(JsonConfig, Dl4jNames):
    """A stack of layers; layer i feeds layer i+1. ``input_preprocessors`` maps index -> reshape."""

    layers: list = dataclasses.field(default_factory=list)
    input_preprocessors: dict = dataclasses.field(default_factory=dict)
    input_type: InputType = None
    defaults: NeuralNetConfiguration = dataclasses.field(default_factory=NeuralNetConfiguration)

    def __post_init__(self):
        self.input_preprocessors = {int(k): v for k, v in self.input_preprocessors.items()}

    def clone(self):
        """A deep copy."""
        return copy.deepcopy(self)

    def get_conf(self, index):
        """The configuration of layer ``index``."""
        return self.layers[index]

    @property
    def seed(self):
        return self.defaults.seed

    def infer_types(self):
        """Fill n_in, add preprocessors and return the list of per-layer input types."""
        current = self.input_type or _implied_input_type(self.layers)
        types = []
        for i, layer in enumerate(self.layers):
            current = _layer_input_type(layer, current, self.input_preprocessors, i)
            types.append(current)
            current = _output_type(layer, current)
        return types


def _layer_input_type(layer, current, preprocessors, key):
    """The type ``layer`` receives: ``current`` after its preprocessor; None when unknown.

    The preprocessor is ``preprocessors[key]`` (key: the layer's index or vertex name). A layer
    without one whose input does not fit (a feature map into a dense layer, flattened images
    into a convolution) gets one inferred and added there, as DL4J's setInputType does; layers
    that take any input ("any") are left alone.
    """
    if current is None:
        return None
    if key not in preprocessors and layer.input_kind != "any":
        auto = preprocessor_between(current, layer.input_kind == "convolutional")
        if auto is not None:
            preprocessors[key] = auto
    if key in preprocessors:
        current = preprocessors[key].output_type(current)
    return current


def _output_type(layer, input_type):
    """The layer's output type; None when its input type is unknown and it needs it to say.

    Without an input type a dense layer still knows its output (n_out features), but an image
    layer's output size depends on the input's, so inference stops there until a layer that
    does not care (a dense layer with n_in set) picks it up again.
    """
    if input_type is None and layer.input_kind == "convolutional":
        return None
    return layer.output_type(input_type)


def _implied_input_type(layers):
    """DL4J infers a feed-forward input type when the first layer is dense with n_in set."""
    first = layers[0] if layers else None
    if first is not None and getattr(first, "input_kind", None) == "feed_forward" \
            and getattr(first, "n_in", None):
        return InputType.feed_forward(first.n_in)
    return None


class ListBuilder(OutputLayerValidation, Dl4jNames):
    """``.list()``: add layers in order, optionally an input type, then ``build()``."""

    def __init__(self, defaults):
        self._defaults = defaults
        self._layers = {}
        self._preprocessors = {}
        self._input_type = None

    def layer(self, index_or_layer, layer=None):
        """Add ``layer`` next (or at ``index``: ``layer(index, layer)``)."""
        if layer is None:
            index, layer = len(self._layers), index_or_layer
        else:
            index = int(index_or_layer)
        self._layers[index] = layer
        return self

    def set_input_type(self, input_type):
        """Declare the input's InputType (shapes and preprocessors are inferred)."""
        self._input_type = input_type
        return self

    def input_pre_processor(self, index, preprocessor):
        """Put ``preprocessor`` in front of layer ``index``."""
        self._preprocessors[int(index)] = preprocessor
        return self

    def build(self):
        """The MultiLayerConfiguration (layers 0..n-1, types inferred)."""
        if sorted(self._layers) != list(range(len(self._layers))):
            raise ValueError(f"layer indices must be 0..{len(self._layers) - 1} without gaps, "
                             f"got {sorted(self._layers)}")
        layers = [_prepared(self._layers[i], self._defaults, str(i)) for i in sorted(self._layers)]
        conf = MultiLayerConfiguration(layers, dict(self._preprocessors), self._input_type,
                                       self._defaults.network_settings())
        conf.infer_types()
        validate_output_layers(conf.layers, self._validate_output)
        return conf


# -- graphs -----------------------------------------------------------------------------------

@dataclasses.dataclass
class ComputationGraphConfiguration(JsonConfig, Dl4jNames):
    """Named vertices (layers or GraphVertex objects) wired by ``vertex_inputs``.

    ``network_inputs`` name the graph's inputs (which have no vertex object), ``network_outputs``
    the vertices whose activations ``output()`` returns and whose losses ``fit`` minimises.
    """

    vertices: dict = dataclasses.field(default_factory=dict)
    vertex_inputs: dict = dataclasses.field(default_factory=dict)
    network_inputs: list = dataclasses.field(default_factory=list)
    network_outputs: list = dataclasses.field(default_factory=list)
    input_types: list = dataclasses.field(default_factory=list)
    input_preprocessors: dict = dataclasses.field(default_factory=dict)
    defaults: NeuralNetConfiguration = dataclasses.field(default_factory=NeuralNetConfiguration)

    def clone(self):
        """A deep copy."""
        return copy.deepcopy(self)

    @property
    def seed(self):
        return self.defaults.seed

    def known_names(self):
        """The inputs' and vertices' names, inputs first."""
        return list(self.network_inputs) + list(self.vertices)

    def topological_order(self):
        """Inputs and vertices so that each comes after all of its inputs.

        Kahn's algorithm; among the vertices that are ready, inputs go first (in their order),
        then vertices by name. The order (and the order of ``params()``) is thus deterministic
        and does not depend on the order the vertices were added in, which JSON (written with
        sorted keys) does not keep.
        """
        names = self.known_names()
        rank = {name: i for i, name in enumerate(list(self.network_inputs) + sorted(self.vertices))}
        waiting = {name: len(set(self.vertex_inputs.get(name, ()))) for name in names}
        consumers = {name: [] for name in names}
        for name in self.vertices:
            for source in set(self.vertex_inputs.get(name, ())):
                consumers[source].append(name)
        ready = [(rank[n], n) for n in names if waiting[n] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for consumer in consumers[name]:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    heapq.heappush(ready, (rank[consumer], consumer))
        if len(order) != len(names):
            stuck = sorted(set(names) - set(order))
            raise ValueError(f"the graph has a cycle through vertices {stuck}")
        return order

    def validate(self):
        """Check the wiring (inputs, outputs, every vertex on a path to an output)."""
        known = set(self.known_names())
        if not self.network_inputs:
            raise ValueError("the graph has no inputs: call add_inputs(...)")
        if not self.network_outputs:
            raise ValueError("the graph has no outputs: call set_outputs(...)")
        for name in self.vertices:
            inputs = self.vertex_inputs.get(name, [])
            if not inputs:
                raise ValueError(f"vertex {name!r} has no inputs")
            for source in inputs:
                if source not in known:
                    raise ValueError(f"vertex {name!r} takes input {source!r}, which does not "
                                     f"exist; known vertices and inputs: {sorted(known)}")
        for name in self.network_outputs:
            if name not in self.vertices:
                raise ValueError(f"output {name!r} is not a vertex; vertices: {list(self.vertices)}")
        order = self.topological_order()
        self._check_reaches_output(order)
        return order

    def ancestors(self, names):
        """The set of the named vertices/inputs and of every vertex and input they depend on.

        ``names`` is an iterable of names (a single name also works). ``ancestors(["fc2"])`` of
        VGG16 is ``fc2`` and everything below it, down to the input ``input_1``: what a forward
        pass up to ``fc2`` computes, and what freezing at ``fc2`` freezes. Unknown names raise,
        listing the known ones.
        """
        names = [names] if isinstance(names, str) else list(names)
        known = set(self.known_names())
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"no vertex or input named {unknown[0]!r}; known vertices and "
                             f"inputs: {self.known_names()}")
        found, stack = set(), names
        while stack:
            name = stack.pop()
            if name not in found:
                found.add(name)
                stack.extend(self.vertex_inputs.get(name, ()))
        return found

    def _check_reaches_output(self, order):
        useful = self.ancestors(self.network_outputs)
        dead = [n for n in order if n not in useful]
        if dead:
            raise ValueError(f"vertices/inputs {dead} have no path to any output "
                             f"{self.network_outputs}")

    def infer_types(self, order=None):
        """Fill n_in, add preprocessors; return {name: output type} (None when unknown)."""
        order = order or self.topological_order()
        types = {}
        given = list(self.input_types)
        for i, name in enumerate(self.network_inputs):
            types[name] = given[i] if i < len(given) else None
        for name in order:
            if name in self.network_inputs:
                continue
            vertex = self.vertices[name]
            in_types = [types[s] for s in self.vertex_inputs[name]]
            if isinstance(vertex, Layer):
                current = in_types[0]
                if len(in_types) > 1:
                    from minidl.nn.conf.vertices import MergeVertex  # DL4J merges extra inputs
                    current = None if None in in_types else MergeVertex().output_type(in_types)
                current = _layer_input_type(vertex, current, self.input_preprocessors, name)
                types[name] = _output_type(vertex, current)
            else:
                types[name] = None if None in in_types else vertex.output_type(in_types)
        return types


class GraphBuilder(OutputLayerValidation, Dl4jNames):
    """``.graph_builder()``: inputs, named layers and vertices with their inputs, outputs.

    Also edits a copy of an existing configuration (``GraphBuilder.from_configuration``), which is
    how the transfer-learning builder rewires a pretrained graph.
    """

    def __init__(self, defaults):
        self._defaults = defaults
        self._conf = ComputationGraphConfiguration(defaults=defaults.network_settings())

    @classmethod
    def from_configuration(cls, conf, defaults=None):
        """A builder holding a copy of ``conf`` (to edit it further)."""
        builder = cls(defaults or conf.defaults)
        builder._conf = conf.clone()
        builder._conf.input_types = []  # as DL4J: input types are not carried over
        if defaults is not None:
            builder._conf.defaults = defaults.network_settings()
        return builder

    @property
    def configuration(self):
        return self._conf

    def add_inputs(self, *names):
        """Add network inputs by name."""
        for name in _flat(names):
            if name in self._conf.known_names():
                raise ValueError(f"input {name!r}: a vertex or input of that name exists already")
            self._conf.network_inputs.append(name)
        return self

    def set_inputs(self, *names):
        """Replace the network inputs."""
        self._conf.network_inputs = []
        return self.add_inputs(*names)

    def set_input_types(self, *types):
        """Declare the inputs' InputTypes, in input order."""
        self._conf.input_types.extend(_flat(types))
        return self

    def add_layer(self, name, layer, *inputs):
        """Add layer vertex ``name`` reading ``inputs`` (a preprocessor may come first)."""
        preprocessor = None
        if inputs and isinstance(inputs[0], InputPreProcessor):
            preprocessor, inputs = inputs[0], inputs[1:]
        self._add(name, _prepared(layer, self._defaults, name), inputs)
        if preprocessor is not None:
            self._conf.input_preprocessors[name] = preprocessor
        return self

    def add_vertex(self, name, vertex, *inputs):
        """Add vertex ``name`` (merge, element-wise, ...) reading ``inputs``."""
        self._add(name, copy.deepcopy(vertex), inputs)
        return self

    def _add(self, name, vertex, inputs):
        if name in self._conf.known_names():
            raise ValueError(f"vertex {name!r} exists already; remove it first")
        inputs = list(_flat(inputs))
        if not inputs:
            raise ValueError(f"vertex {name!r}: give at least one input")
        self._conf.vertices[name] = vertex
        self._conf.vertex_inputs[name] = inputs

    def set_outputs(self, *names):
        """The network outputs, by vertex name."""
        self._conf.network_outputs = list(_flat(names))
        return self

    def remove_vertex(self, name, remove_connections=True):
        """Remove ``name``, a vertex or a network input; with ``remove_connections`` also every
        reference to it (DL4J). An input takes its input type with it (the types are
        positional), so ``add_inputs(name)`` and ``set_input_types`` can replace it."""
        conf = self._conf
        if name not in conf.vertices and name not in conf.network_inputs:
            raise ValueError(f"cannot remove {name!r}: no such vertex; vertices: "
                             f"{conf.known_names()}")
        conf.vertices.pop(name, None)
        conf.vertex_inputs.pop(name, None)
        if name in conf.network_inputs:
            position = conf.network_inputs.index(name)
            del conf.network_inputs[position]
            if position < len(conf.input_types):
                del conf.input_types[position]
        if remove_connections:
            conf.network_outputs = [o for o in conf.network_outputs if o != name]
            conf.input_preprocessors.pop(name, None)
            for inputs in conf.vertex_inputs.values():
                inputs[:] = [i for i in inputs if i != name]
        return self

    def build(self):
        """The ComputationGraphConfiguration (validated, types inferred)."""
        conf = copy.deepcopy(self._conf)
        _check_input_types(conf)
        order = conf.validate()
        conf.infer_types(order)
        validate_output_layers(conf.vertices.values(), self._validate_output)
        return conf


def _check_input_types(conf):
    """Refuse more input types than inputs: the extra ones would be silently ignored, and the
    others are then probably not the types of the inputs they land on."""
    types, inputs = conf.input_types, conf.network_inputs
    if len(types) > len(inputs):
        raise ValueError(f"set_input_types: {len(types)} input types {[str(t) for t in types]} "
                         f"for {len(inputs)} network inputs {inputs}; give one type per input, "
                         f"in the order of the inputs")


def _flat(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from item
        else:
            yield item
