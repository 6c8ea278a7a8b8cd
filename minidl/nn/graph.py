"""ComputationGraph: named layers and vertices wired as a directed acyclic graph (DL4J's CG)."""

import copy

import numpy as np

from minidl.autograd import no_grad
from minidl.nn import model_file
from minidl.nn.conf.configuration import ComputationGraphConfiguration
from minidl.nn.conf.layers import Layer
from minidl.nn.network import Network
from minidl.nn.wiring import Wiring


class ComputationGraph(Network):
    """A DAG of named vertices with one or more inputs and outputs.

    ``output(x1, x2, ...)`` returns a list with one array per output vertex; ``output_single``
    the only one. As in DL4J, a train flag may come first: ``output(False, x1, x2)``.
    Parameter keys are "<vertex name>_<param>" ("fc2_W").
    """

    configuration_class = ComputationGraphConfiguration
    unfrozen_accessor = "unfrozen_graph"  # TransferLearningHelper's, as DL4J names it

    def __init__(self, conf):
        if not isinstance(conf, ComputationGraphConfiguration):
            raise TypeError(f"ComputationGraph needs a ComputationGraphConfiguration (from "
                            f".graph_builder()...build()), got {type(conf).__name__}")
        super().__init__(conf)
        self._order = conf.validate()

    @property
    def topological_order(self):
        return list(self._order)

    def get_vertex(self, name):
        """The vertex configuration ``name``."""
        if name not in self.conf.vertices:
            raise KeyError(f"no vertex {name!r}; vertices: {list(self.conf.vertices)}")
        return self.conf.vertices[name]

    def get_layer(self, name):
        """The layer named ``name`` (or the ``name``-th layer, for an int)."""
        if isinstance(name, int):
            items = self.layer_items()
            if not 0 <= name < len(items):
                raise IndexError(f"layer index {name} out of range 0..{len(items) - 1}")
            return items[name][1]
        vertex = self.get_vertex(name)
        if not isinstance(vertex, Layer):
            raise KeyError(f"vertex {name!r} ({type(vertex).__name__}) is not a layer")
        return vertex

    def get_layers(self):
        """The layers, in topological order."""
        return [layer for _, layer in self.layer_items()]

    def get_num_layers(self):
        """How many layers (vertices without parameters not counted)."""
        return len(self.layer_items())

    def get_configuration(self):
        """The ComputationGraphConfiguration."""
        return self.conf

    def layer_size(self, name):
        """Layer ``name``'s n_out (0 without one)."""
        return getattr(self.get_layer(name), "n_out", 0) or 0

    def layer_input_size(self, name):
        """Layer ``name``'s n_in (0 without one)."""
        return getattr(self.get_layer(name), "n_in", 0) or 0

    @property
    def input_names(self):
        return list(self.conf.network_inputs)

    @property
    def output_names(self):
        return list(self.conf.network_outputs)

    def get_configuration_inputs(self):
        """The names of the graph's inputs (DL4J's getConfiguration().getNetworkInputs())."""
        return self.input_names

    @staticmethod
    def load(path, load_updater=True):
        """The ComputationGraph saved in the zip ``path`` by ``save`` or ModelSerializer, with its
        updater's state when ``load_updater`` (DL4J's ``ComputationGraph.load(File,
        boolean)``)."""
        return model_file.restore(path, ComputationGraph, load_updater)

    @property
    def wiring(self):
        conf = self.conf
        return Wiring(conf.network_inputs, conf.network_outputs, conf.vertices, conf.vertex_inputs,
                      conf.input_preprocessors, self._order)

    def _set_vertex(self, name, vertex):
        self.conf.vertices[name] = vertex

    def freeze_names(self, names, what):
        """The vertices ``what`` (a helper, a builder) was asked to freeze up to: names."""
        names = list(names)
        self.wiring.check_names(names, what)
        return names

    def vertex_types(self):
        """{input or vertex name: the InputType of its output} (None where unknown)."""
        return self.conf.infer_types()

    def vertex_from_text(self, text):
        """The vertex a user typed (a command-line ``--layer``): a graph's are names."""
        self.wiring.check_names([text], "--layer")
        return text

    @staticmethod
    def freeze_example(what):
        """How a freeze call names its layers, for error messages."""
        return f"{what}(graph, 'fc2')"

    def unfrozen_network(self, frozen_names):
        """(the ComputationGraph of the vertices outside ``frozen_names``, {key: same key})."""
        conf, inputs = self.conf, self.wiring.boundary(frozen_names)
        types = conf.infer_types()
        sub = ComputationGraphConfiguration(
            vertices={n: copy.deepcopy(v) for n, v in conf.vertices.items()
                      if n not in frozen_names},
            network_inputs=inputs,
            network_outputs=list(conf.network_outputs),
            input_types=[types[n] for n in inputs] if all(types[n] for n in inputs) else [],
            defaults=copy.deepcopy(conf.defaults))
        sub.vertex_inputs = {n: list(conf.vertex_inputs[n]) for n in sub.vertices}
        sub.input_preprocessors = {n: copy.deepcopy(p) for n, p in conf.input_preprocessors.items()
                                   if n in sub.vertices}
        sub.validate()
        # where this network is, which need not be the default device
        unfrozen = ComputationGraph(sub).init().to(self.device)
        key_map = {key: key for key, _ in unfrozen.layer_items()}
        unfrozen.copy_params_from(self, key_map)
        return unfrozen, key_map

    def feed_forward(self, *inputs, train=False, until=None):
        """{vertex name: activation array} for every input and vertex. As in DL4J's
        ``feedForward(INDArray[] input, boolean train)``, the train flag may come last.

        ``until`` (a vertex or input name, or several) asks for those activations alone: only
        their ancestors run, and every other activation is freed as soon as nothing more reads
        it, so the peak memory is a few activations (what featurizing through a frozen VGG16
        needs).
        """
        train, inputs = _train_flag(inputs, train, "feed_forward", position=-1)
        if until is not None:
            names = [until] if isinstance(until, str) else list(until)
            self.wiring.check_names(names, "feed_forward(until=...)")
            return dict(zip(names, self.activations_at(names, inputs, train)))
        with no_grad():
            acts = self._activations(self._given(inputs), self._context(train))
        return {name: a.data for name, a in acts.items()}

    def output(self, *inputs, train=False):
        """A list of output arrays, one per output vertex, in ``set_outputs`` order; inference
        mode unless ``train``. As in DL4J's ``output(boolean train, INDArray... input)``, the
        train flag may come first: ``output(False, x)``."""
        train, inputs = _train_flag(inputs, train, "output", position=0)
        return self.output_arrays(inputs, train)

    def output_single(self, *inputs, train=False):
        """The output array of a graph with one output: ``output(...)[0]``, and the same
        arguments (DL4J's ``outputSingle(boolean train, INDArray... input)``)."""
        if len(self.conf.network_outputs) != 1:
            raise ValueError(f"output_single: the graph has {len(self.conf.network_outputs)} "
                             f"outputs {self.conf.network_outputs}; use output()")
        return self.output(*inputs, train=train)[0]


def _as_list(inputs):
    """The input arrays, given one by one (``output(a, b)``) or as one list (``output([a, b])``)."""
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        return list(inputs[0])
    return list(inputs)


def _train_flag(args, train, method, position):
    """(train, input arrays) from ``args``, where DL4J's positional train flag may stand at
    ``position`` (0: first, -1: last); a bool anywhere else raises."""
    if args and isinstance(args[position], (bool, np.bool_)):
        if train is not False:
            raise TypeError(f"{method}: the train flag is given twice ({args[position]} and "
                            f"train={train})")
        train = bool(args[position])
        args = args[1:] if position == 0 else args[:-1]
    inputs = _as_list(args)
    misplaced = [i for i, x in enumerate(inputs) if isinstance(x, (bool, np.bool_))]
    if misplaced:
        where = "first" if position == 0 else "last"
        raise TypeError(f"{method}: input {misplaced[0]} is a bool ({inputs[misplaced[0]]}); the "
                        f"train flag goes {where} or as train=...")
    return train, inputs
