"""The engine: one executor that runs, trains and freezes every network.

A network is a Wiring (``minidl.nn.wiring``: inputs, vertices, what each reads, outputs) plus
one Tensor per parameter (``minidl.nn.parameters``). ComputationGraph hands over its graph as it
is; MultiLayerNetwork is a façade that presents its stack of layers as the chain "input" -> "0"
-> "1" -> ... and keeps DL4J's index API on top. Everything below is written once for both.

A forward pass visits the vertices in topological order; each reads the activations of its
inputs (a layer's through its input preprocessor) and adds its own. One training iteration
(``fit`` on a minibatch) is:

1. forward in training mode with the graph recorded, ending in the output layers' losses;
2. ``loss.backward()``: autograd fills ``grad`` on every trainable parameter. Frozen layers'
   parameters do not require a gradient and FrozenLayer runs without a graph, so nothing at or
   below a frozen boundary is differentiated;
3. for each trainable parameter, in DL4J's order: gradient normalisation, L1/L2 added to the
   gradient, the updater turns the gradient into an update, weight decay added to the update,
   then ``param -= update``.
"""

import copy

import numpy as np

from minidl import ops
from minidl.autograd import Tensor, no_grad
from minidl.backend import get_array_module, to_cpu, to_device
from minidl.data.dataset import as_list
from minidl.data.iterators import reset_if_supported
from minidl.nn import model_file
from minidl.learning.step import apply_update
from minidl.learning.step import regularization_score as param_penalty
from minidl.naming import Dl4jNames
from minidl.nn import fitting, fusion
from minidl.nn import precision as precision_mode
from minidl.nn.conf.enums import OptimizationAlgorithm
from minidl.nn.layers import Context, Layer
from minidl.nn.freezing import frozen
from minidl.nn.parameters import ParameterStore, flat_key
from minidl.nn.summary import summary_table


class Network(ParameterStore, Dl4jNames):
    """Base of MultiLayerNetwork and ComputationGraph (see the module docstring).

    A subclass supplies ``wiring`` (its Wiring) and ``_set_vertex`` (how a vertex of its
    configuration is replaced); the index API of a MultiLayerNetwork is a layer over that.
    """

    accepts_multi_dataset = True  # a MultiLayerNetwork takes DataSets only, as in DL4J
    noun, output_noun = "graph", "output vertex"  # how errors name the network and its outputs

    def __init__(self, conf):
        self.conf = conf
        self.updater_state = {}
        self.listeners = []
        self.iteration_count = 0
        self.epoch_count = 0
        self.last_score = None
        self._rng = None

    @property
    def last_score(self):
        """The score of the last minibatch fitted (a float; None before any).

        On the GPU the loss stays on the device until the score is read (by ``score()``, a
        listener, ``fit``'s return): reading it waits for the GPU to finish. So a ``fit`` without
        listeners queues step after step without waiting for any, and the launches of the next
        step overlap the GPU's work on this one (a small head's steps are mostly launches).
        """
        pending = getattr(self, "_pending_score", None)
        if pending is not None:
            loss, penalty = pending
            self._last_score, self._pending_score = float(loss.item()) + penalty, None
        return getattr(self, "_last_score", None)

    @last_score.setter
    def last_score(self, value):
        self._last_score, self._pending_score = value, None

    @property
    def wiring(self):
        raise NotImplementedError

    def _set_vertex(self, name, vertex):
        raise NotImplementedError

    def layer_items(self):
        """[(key, layer)] in topological order, for every layer (not parameter-free vertices)."""
        wiring = self.wiring
        return [(name, wiring.vertices[name]) for name in wiring.order
                if isinstance(wiring.vertices.get(name), Layer)]

    def display_name(self, name):
        """How users name vertex ``name`` (its layer name; a graph's vertex names are that)."""
        return name

    # -- forward ---------------------------------------------------------------------------
    def _context(self, train, dtype=None):
        watch = None if dtype is None else precision_mode.FiniteWatch()
        return Context(train=train, rng=self._rng, dtype=dtype, watch=watch)

    def _given(self, inputs, dtype=None):
        """{input name: Tensor on the network's device (of ``dtype``, if given)} for the list of
        input arrays."""
        names = self.wiring.inputs
        if len(inputs) != len(names):
            raise ValueError(f"the {self.noun} has {len(names)} input(s) {names}, got "
                             f"{len(inputs)} array(s)")
        arrays = [to_device(x, self.device) for x in inputs]
        if dtype is not None:
            arrays = [x.astype(dtype, copy=False) for x in arrays]
        return {name: Tensor(x) for name, x in zip(names, arrays)}

    def _activations(self, given, ctx, until=None):
        """{name: Tensor} for ``given`` ({name: Tensor}) and every vertex computed from them;
        or, with ``until`` (names), for those alone, computing only what they need. ``given``
        itself is filled and returned (a copy would keep the inputs alive to the end).

        With ``until``, in inference under ``no_grad()`` (and in frozen layers), a convolution,
        the batch norm it feeds and the activation after it run as one op (``minidl.nn.fusion``):
        the activations inside such a chain are never made.

        With ``until``, an activation is dropped as soon as the last vertex that reads it has
        run: under ``no_grad()`` (inference, featurization) that frees it, so the peak memory is
        a few activations, not all of them. (With gradients on, the Functions that need an
        input for their backward keep it alive themselves.)
        """
        self._require_init()
        wiring, acts = self.wiring, given
        if until is None:
            order, last_reader = [n for n in wiring.order if n not in acts], {}
        else:
            needed = wiring.ancestors(until, given=acts)
            order = [n for n in wiring.order if n in needed and n not in acts]
            last_reader = wiring.last_readers(order, keep=set(until))
        chains = {} if until is None else fusion.find_chains(wiring, order, set(until), ctx)
        inside = {m for chain in chains.values() for m in chain.members[1:]}
        if ctx.watch:  # half precision: float16 overflow (minidl.nn.precision.FiniteWatch)
            for name, given_tensor in acts.items():  # the inputs' cast to half, too
                ctx.watch.see(name, given_tensor.data)
        for name in order:
            if name in chains:  # conv -> batch norm (-> activation) as one op, and the like
                made = chains[name].last
                acts[made] = chains[name].run(self, acts, ctx)
            elif name not in inside:  # (those inside a chain ran with its conv)
                made = name
                acts[name] = self._vertex_forward(name, acts, ctx)
            if ctx.watch and name not in inside:
                ctx.watch.see(made, acts[made].data)
            for source in last_reader.get(name, ()):
                acts.pop(source, None)  # a chain's inner activations were never made
        return acts

    def _vertex_forward(self, name, acts, ctx):
        vertex = self.wiring.vertices[name]
        if not isinstance(vertex, Layer):
            return vertex.forward([acts[s] for s in self.wiring.vertex_inputs[name]], ctx)
        params = self.param_tables[name] if ctx.dtype is None else \
            precision_mode.half_params(self, name, ctx.dtype)
        return vertex.forward(self._layer_input(name, acts), params, ctx)

    def _layer_input(self, name, acts):
        """What layer ``name`` reads: its inputs' activations (concatenated along the feature or
        channel axis when several, as DL4J does), through its input preprocessor if it has one."""
        wiring = self.wiring
        inputs = [acts[source] for source in wiring.vertex_inputs[name]]
        x = inputs[0] if len(inputs) == 1 else ops.concat(inputs, axis=1)
        preprocessor = wiring.preprocessors.get(name)
        return x if preprocessor is None else preprocessor.pre_process(x)

    def activations_at(self, names, inputs, train=False, precision="fp32"):
        """The activation arrays of ``names`` (vertices or inputs) for the list ``inputs``,
        computing only their ancestors and keeping nothing else alive (featurization).

        ``precision="fp16"`` computes them in half precision on the GPU and returns them as
        float32 (``minidl.nn.precision``)."""
        dtype = precision_mode.activation_dtype(precision, self.device)
        ctx = self._context(train, dtype)
        with no_grad():
            acts = self._activations(self._given(inputs, dtype), ctx, until=names)
        if dtype is None:
            return [acts[name].data for name in names]
        ctx.watch.check(self)
        return [acts[name].data.astype(np.float32) for name in names]

    def output_arrays(self, inputs, train=False):
        """One output array per output vertex for the list of input arrays ``inputs``."""
        return self.activations_at(self.wiring.outputs, inputs, train)

    # -- losses ----------------------------------------------------------------------------
    def _loss_and_outputs(self, inputs, labels, ctx):
        """(total loss Tensor, list of output Tensors) for lists of input and label arrays."""
        outputs = self.wiring.outputs
        if len(labels) != len(outputs):
            raise ValueError(f"the {self.noun} has {len(outputs)} output(s) {outputs}, got "
                             f"{len(labels)} label array(s)")
        for name in outputs:
            if not self.wiring.vertices[name].is_output:
                raise ValueError(f"cannot fit: {self.output_noun} "
                                 f"{self.wiring.vertices[name].describe()} is not an output layer "
                                 f"(OutputLayer or LossLayer) and has no loss")
        loss_inputs = [s for name in outputs for s in self.wiring.vertex_inputs[name]]
        acts = self._activations(self._given(inputs), ctx, until=loss_inputs)
        total, results = None, []
        for name, y in zip(outputs, labels):
            loss, out = self.wiring.vertices[name].compute_loss(
                self._layer_input(name, acts), self.param_tables[name], Tensor(y), ctx)
            total = loss if total is None else total + loss
            results.append(out)
        return total, results

    # -- freezing --------------------------------------------------------------------------
    def freeze(self, names):
        """Freeze, in place, the named vertices, those frozen already, and all their ancestors:
        their parameters stay, get no gradient and lose their updater state. Returns the set of
        frozen names (inputs included)."""
        wiring = self.wiring
        already = [name for name, vertex in wiring.vertices.items() if vertex.frozen]
        frozen_names = wiring.ancestors(list(names) + already)
        for name in wiring.order:
            vertex = wiring.vertices.get(name)
            if name in frozen_names and vertex is not None and not vertex.frozen:
                self._set_vertex(name, frozen(vertex))
                self.stop_training(name)
        return frozen_names

    def frozen_names(self):
        """The frozen vertices and everything they read (what ``freeze([])`` would freeze)."""
        wiring = self.wiring
        return wiring.ancestors([n for n, v in wiring.vertices.items() if v.frozen])

    def unfrozen_network(self, frozen_names):
        """(network of the unfrozen part, {its layer key: this network's layer key}).

        Its inputs are ``wiring.boundary(frozen_names)``: the frozen activations the unfrozen
        vertices read, and the inputs only they read. Parameters are copied from this network.
        """
        raise NotImplementedError

    # -- training --------------------------------------------------------------------------
    def set_listeners(self, *listeners):
        """Replace the training listeners: ``set_listeners(a, b)`` or ``set_listeners([a, b])``;
        ``set_listeners(None)`` or ``set_listeners()`` removes them all."""
        self.listeners = fitting.flatten_listeners(listeners)

    def add_listeners(self, *listeners):
        """Append training listeners to those already set (DL4J's addListeners)."""
        self.listeners.extend(fitting.flatten_listeners(listeners))

    def get_listeners(self):
        """The training listeners, in call order: the network's own list, as DL4J returns its
        collection (changing it changes the listeners)."""
        return self.listeners

    def get_iteration_count(self):
        """Iterations (minibatches) fitted so far."""
        return self.iteration_count

    def get_epoch_count(self):
        """Epochs (passes over an iterator) fitted so far."""
        return self.epoch_count

    def _check_algorithm(self):
        algo = self.conf.defaults.optimization_algo
        if algo not in (None, OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT):
            raise NotImplementedError(f"optimization algorithm {algo.name} is not implemented; "
                                      f"minidl trains with STOCHASTIC_GRADIENT_DESCENT")

    def _fit_batch(self, inputs, labels):
        """One iteration on one minibatch: forward, backward, update. Returns the score."""
        self._check_algorithm()
        loss = self._forward_backward(inputs, labels)
        for listener in self.listeners:  # DL4J's onGradientCalculation: gradients, no update yet
            getattr(listener, "on_gradient_calculation", lambda model: None)(self)
        self._apply_updates()
        self.param_version += 1  # the parameters changed in place (minidl.nn.fusion's cache)
        # the loss's array, not the Tensor (whose graph would keep the activations alive)
        self._pending_score = (loss.data, self.regularization_score())  # read when asked for
        for listener in self.listeners:
            listener.iteration_done(self, self.iteration_count, self.epoch_count)
        self.iteration_count += 1

    def _forward_backward(self, inputs, labels):
        """Forward in training mode, then backward: fills ``grad`` on the trainable parameters.
        Returns the loss (without regularization)."""
        self._require_init()
        inputs = [np.asarray(x) if not hasattr(x, "shape") else x for x in inputs]
        labels = [to_device(y, self.device) for y in labels]
        loss, _ = self._loss_and_outputs(inputs, labels, self._context(train=True))
        if loss.requires_grad:
            loss.backward()
        return loss

    def compute_gradient_and_score(self, data, labels=None):
        """DL4J's computeGradientAndScore: ({param key: gradient}, score) for one minibatch.

        The gradient is the loss's (without regularization, which the update step adds); the
        parameters are not changed.
        """
        inputs, labels = self._unpack_arrays(data, labels) if labels is not None \
            else self._unpack(data)
        loss = self._forward_backward(inputs, labels)
        gradients = {}
        for key, name, tensor in self.param_items():
            if tensor.grad is not None:
                gradients[flat_key(key, name)], tensor.grad = tensor.grad, None
        return gradients, float(loss.item()) + self.regularization_score()

    def _apply_updates(self):
        for key, layer in self.layer_items():
            if layer.frozen:
                continue
            table = self.param_tables[key]
            grads = {name: t.grad for name, t in table.items() if t.grad is not None}
            for name, gradient in fitting.normalize_gradients(layer, grads).items():
                self._update_param(key, layer, name, table[name], gradient)

    def _update_param(self, key, layer, name, tensor, gradient):
        w = tensor.data
        updater = layer.updater_for(name)
        state = self.updater_state.get((key, name))
        if state is None:
            state = self.updater_state[(key, name)] = updater.init_state(
                w.shape, w.dtype, get_array_module(w))
        apply_update(updater, state, w, gradient, layer.regularization_for(name),
                     self.iteration_count, self.epoch_count)
        tensor.grad = None

    def regularization_score(self):
        """The L1/L2/weight-decay penalty added to the loss (frozen layers add nothing)."""
        return sum(param_penalty(tensor.data, layer.regularization_for(name))
                   for key, layer in self.layer_items() if not layer.frozen
                   for name, tensor in self.param_tables[key].items())

    def score(self, dataset=None, training=False):
        """The loss (plus regularization) on ``dataset``; without one, the last fit's score."""
        if dataset is None:
            return self.last_score
        inputs, labels = self._unpack(dataset)
        with no_grad():
            loss, _ = self._loss_and_outputs(inputs, [to_device(y, self.device) for y in labels],
                                             self._context(train=training))
        return float(loss.item()) + self.regularization_score()

    def fit(self, data, labels=None, epochs=None):
        """Train; DL4J's ``fit`` overloads in one method. Returns the last iteration's score.

        - ``fit(iterator, num_epochs)`` (or ``epochs=``): passes over an iterator of DataSets or
          MultiDataSets (one by default), each counted in ``epoch_count``;
        - ``fit(dataset)``: one iteration on a DataSet or MultiDataSet minibatch;
        - ``fit(features, labels)``: one iteration on arrays (for a ComputationGraph, lists
          with one array per input and per output).

        On a single minibatch (a DataSet or arrays), ``epochs`` (or ``fit(dataset, n)``) repeats
        the iteration ``n`` times; it is not counted as an epoch.
        """
        labels, epochs = fitting.fit_arguments(data, labels, epochs)
        if fitting.is_batch_source(data):
            fitting.check_repeatable(data, epochs)
            for _ in range(epochs):
                self._fit_epoch(data)
            return self.last_score
        inputs, labels = self._unpack(data) if labels is None else \
            self._unpack_arrays(data, labels)
        for _ in range(epochs):
            self._fit_batch(inputs, labels)
        return self.last_score

    def _fit_epoch(self, iterator):
        reset_if_supported(iterator)
        for listener in self.listeners:
            getattr(listener, "on_epoch_start", lambda model: None)(self)
        for batch in iterator:
            self._fit_batch(*self._unpack(batch))
        for listener in self.listeners:
            getattr(listener, "on_epoch_end", lambda model: None)(self)
        self.epoch_count += 1

    def _unpack(self, data):
        """(list of feature arrays, list of label arrays) from a DataSet or MultiDataSet."""
        if not fitting.is_dataset(data):
            raise TypeError(f"{type(self).__name__}: expected a DataSet or MultiDataSet "
                            f"(features with their labels), got {type(data).__name__}")
        return self._unpack_arrays(data.features, data.labels)

    def _unpack_arrays(self, features, labels):
        """(list of feature arrays, list of label arrays; none for no labels)."""
        return as_list(features), as_list(labels)

    def evaluate(self, iterator, labels_list=None):
        """An Evaluation of the (first) output over every batch of ``iterator`` (or of one
        DataSet). Without ``labels_list`` the class names come, as in DL4J, from
        ``iterator.get_labels()`` (a DataSet's from its label names), so ``stats()`` names them."""
        from minidl.eval import Evaluation

        single = fitting.is_dataset(iterator)
        if labels_list is None:  # DL4J: labelsList = iterator.getLabels()
            labels_list = getattr(iterator, "label_names", None) if single else \
                getattr(iterator, "get_labels", lambda: None)()
        evaluation = Evaluation(labels=labels_list)
        reset_if_supported(iterator)
        for batch in [iterator] if single else iterator:
            features, labels = self._unpack(batch)
            predictions = self.output_arrays(features)[0]
            evaluation.eval(to_cpu(labels[0]), to_cpu(predictions))
        return evaluation

    # -- files, copies, summary ------------------------------------------------------------
    def save(self, path, save_updater=True):
        """Write this network to the zip ``path`` (DL4J's ``save(File, boolean)``), with the
        updater's state when ``save_updater``; ``ModelSerializer.write_model`` does the work.
        Read it back with ``MultiLayerNetwork.load`` / ``ComputationGraph.load``."""
        model_file.write_model(self, path, save_updater)

    def clone(self):
        """An independent copy: configuration, parameters, updater state and counters, on the
        device of this network (not the default device: a copy stays where its original is)."""
        other = type(self)(self.conf.clone())
        other.init(self.params()).to(self.device)
        other.updater_state = copy.deepcopy(self.updater_state)
        other.iteration_count, other.epoch_count = self.iteration_count, self.epoch_count
        return other

    def summary(self):
        """A DL4J-style table of layers, sizes, parameter counts and shapes, plus totals."""
        return summary_table(self, self._summary_vertices())

    def _summary_vertices(self):
        """(name, vertex or None for an input, its inputs as text) per row of ``summary()``."""
        wiring = self.wiring
        for name in wiring.order:
            inputs = wiring.vertex_inputs.get(name)
            yield name, wiring.vertices.get(name), ", ".join(inputs) if inputs else "-"

