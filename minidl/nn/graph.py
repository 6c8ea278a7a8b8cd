"""ComputationGraph: named layers and vertices wired as a directed acyclic graph (DL4J's CG)."""

import numpy as np

from minidl import ops
from minidl.autograd import Tensor, no_grad
from minidl.backend import to_device
from minidl.nn.serializer import ModelSerializer
from minidl.nn.conf.configuration import ComputationGraphConfiguration
from minidl.nn.conf.layers import Layer
from minidl.nn.network import Network


class ComputationGraph(Network):
    """A DAG of named vertices with one or more inputs and outputs.

    ``output(x1, x2, ...)`` returns a list with one array per output vertex; ``output_single``
    the only one. As in DL4J, a train flag may come first: ``output(False, x1, x2)``.
    Parameter keys are "<vertex name>_<param>" ("fc2_W").
    """

    def __init__(self, conf):
        if not isinstance(conf, ComputationGraphConfiguration):
            raise TypeError(f"ComputationGraph needs a ComputationGraphConfiguration (from "
                            f".graph_builder()...build()), got {type(conf).__name__}")
        super().__init__(conf)
        self._order = conf.validate()

    @property
    def topological_order(self):
        return list(self._order)

    def layer_items(self):
        return [(name, self.conf.vertices[name]) for name in self._order
                if isinstance(self.conf.vertices.get(name), Layer)]

    def get_vertex(self, name):
        if name not in self.conf.vertices:
            raise KeyError(f"no vertex {name!r}; vertices: {list(self.conf.vertices)}")
        return self.conf.vertices[name]

    def get_layer(self, name):
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
        return [layer for _, layer in self.layer_items()]

    def get_num_layers(self):
        return len(self.layer_items())

    def get_configuration(self):
        return self.conf

    def layer_size(self, name):
        return getattr(self.get_layer(name), "n_out", 0) or 0

    def layer_input_size(self, name):
        return getattr(self.get_layer(name), "n_in", 0) or 0

    @property
    def input_names(self):
        return list(self.conf.network_inputs)

    @property
    def output_names(self):
        return list(self.conf.network_outputs)

    get_configuration_inputs = input_names

    @staticmethod
    def load(path, load_updater=True):
        """The ComputationGraph saved in the zip ``path`` by ``save`` or ModelSerializer, with its
        updater's state when ``load_updater`` (DL4J's ``ComputationGraph.load(File,
        boolean)``)."""
        return ModelSerializer.restore_computation_graph(path, load_updater)

    # -- forward ---------------------------------------------------------------------------
    def _vertex_forward(self, name, acts, ctx):
        vertex = self.conf.vertices[name]
        if not isinstance(vertex, Layer):
            return vertex.forward([acts[source] for source in self.conf.vertex_inputs[name]], ctx)
        return vertex.forward(self._layer_input(name, acts), self.param_tables[name], ctx)

    def _layer_input(self, name, acts):
        """What layer ``name`` reads: its inputs' activations (concatenated along the feature or
        channel axis when several, as DL4J does), through its input preprocessor if it has one."""
        inputs = [acts[source] for source in self.conf.vertex_inputs[name]]
        x = inputs[0] if len(inputs) == 1 else ops.concat(inputs, axis=1)
        preprocessor = self.conf.input_preprocessors.get(name)
        return x if preprocessor is None else preprocessor.pre_process(x)

    def _check_inputs(self, inputs):
        names = self.conf.network_inputs
        if len(inputs) != len(names):
            raise ValueError(f"the graph has {len(names)} input(s) {names}, got {len(inputs)} "
                             f"array(s)")

    def _activations(self, inputs, ctx, until=None):
        """{name: Tensor} for the inputs and every vertex; or, given ``until`` (names), for
        those alone, computing only their ancestors.

        With ``until``, an activation is dropped as soon as the last vertex that reads it has
        run: under ``no_grad()`` (inference, featurization) that frees it, so the peak memory is
        a few activations, not all of them. (With gradients on, the Functions that need an
        input for their backward keep it alive themselves.)
        """
        self._require_init()
        self._check_inputs(inputs)
        acts = {name: Tensor(to_device(x, self.device))
                for name, x in zip(self.conf.network_inputs, inputs)}
        if until is None:
            order, last_reader = self._order, {}
        else:
            needed = self.conf.ancestors(until)
            order = [name for name in self._order if name in needed]
            last_reader = self._last_readers(order, keep=set(until))
        for name in order:
            if name not in acts:
                acts[name] = self._vertex_forward(name, acts, ctx)
            for source in last_reader.get(name, ()):
                del acts[source]
        return acts

    def _last_readers(self, order, keep):
        """{vertex: the activations no vertex after it in ``order`` reads}, except ``keep``."""
        last = {}
        for name in order:
            for source in self.conf.vertex_inputs.get(name, ()):
                last[source] = name
        readers = {}
        for source, name in last.items():
            if source not in keep:
                readers.setdefault(name, []).append(source)
        return readers

    def feed_forward(self, *inputs, train=False, until=None):
        """{vertex name: activation array} for every input and vertex. As in DL4J's
        ``feedForward(INDArray[] input, boolean train)``, the train flag may come last.

        ``until`` (a vertex or input name, or several) asks for those activations alone: only
        their ancestors run, and every other activation is freed as soon as nothing more reads
        it, so the peak memory is a few activations (what featurizing through a frozen VGG16
        needs).
        """
        train, inputs = _train_flag(inputs, train, "feed_forward", position=-1)
        names = None if until is None else [until] if isinstance(until, str) else list(until)
        with no_grad():
            acts = self._activations(inputs, self._context(train), until=names)
        return {name: acts[name].data for name in (acts if names is None else names)}

    def output(self, *inputs, train=False):
        """A list of output arrays, one per output vertex, in ``set_outputs`` order; inference
        mode unless ``train``. As in DL4J's ``output(boolean train, INDArray... input)``, the
        train flag may come first: ``output(False, x)``."""
        train, inputs = _train_flag(inputs, train, "output", position=0)
        with no_grad():
            acts = self._activations(inputs, self._context(train),
                                     until=self.conf.network_outputs)
        return [acts[name].data for name in self.conf.network_outputs]

    def output_single(self, *inputs, train=False):
        """The output array of a graph with one output: ``output(...)[0]``, and the same
        arguments (DL4J's ``outputSingle(boolean train, INDArray... input)``)."""
        if len(self.conf.network_outputs) != 1:
            raise ValueError(f"output_single: the graph has {len(self.conf.network_outputs)} "
                             f"outputs {self.conf.network_outputs}; use output()")
        return self.output(*inputs, train=train)[0]

    def _predict(self, features):
        return self.output(*features)[0]

    def _loss_and_outputs(self, inputs, labels, ctx):
        outputs = self.conf.network_outputs
        if len(labels) != len(outputs):
            raise ValueError(f"the graph has {len(outputs)} output(s) {outputs}, got "
                             f"{len(labels)} label array(s)")
        for name in outputs:
            if not self.conf.vertices[name].is_output:
                raise ValueError(f"cannot fit: output vertex {self.conf.vertices[name].describe()} "
                                 f"is not an output layer (OutputLayer or LossLayer) and has no loss")
        acts = self._activations(inputs, ctx, until=self._loss_inputs())
        total, results = None, []
        for name, y in zip(outputs, labels):
            loss, out = self._output_loss(name, acts, Tensor(y), ctx)
            total = loss if total is None else total + loss
            results.append(out)
        return total, results

    def _loss_inputs(self):
        return [s for name in self.conf.network_outputs for s in self.conf.vertex_inputs[name]]

    def _output_loss(self, name, acts, labels, ctx):
        return self.conf.vertices[name].compute_loss(self._layer_input(name, acts),
                                                     self.param_tables[name], labels, ctx)

    def _summary_vertices(self):
        for name in self._order:
            inputs = self.conf.vertex_inputs.get(name)
            yield name, self.conf.vertices.get(name), ", ".join(inputs) if inputs else "-"


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
