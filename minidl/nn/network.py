"""What MultiLayerNetwork and ComputationGraph share: parameters, training, scoring, summary.

A network owns its configuration and one Tensor per parameter, kept in ``param_tables`` as
``{layer key: {param name: Tensor}}`` (layer key = index for a MultiLayerNetwork, vertex name
for a ComputationGraph). One training iteration (``fit`` on a minibatch) is:

1. forward in training mode with the graph recorded, ending in the output layers' losses;
2. ``loss.backward()``: autograd fills ``grad`` on every trainable parameter. Frozen layers'
   parameters do not require a gradient and FrozenLayer runs without a graph, so nothing at or
   below a frozen boundary is differentiated;
3. for each trainable parameter, in DL4J's order: gradient normalisation, L1/L2 added to the
   gradient, the updater turns the gradient into an update, weight decay added to the update,
   then ``param -= update``.

Subclasses supply the wiring: which layers exist in which order, and how a forward pass runs.
"""

import copy
import numbers

import numpy as np

from minidl.autograd import Tensor, no_grad
from minidl.data.dataset import as_list
from minidl.data.iterators import reset_if_supported
from minidl.backend import device_of, get_array_module, get_device, to_cpu, to_device
from minidl.nn.serializer import ModelSerializer
from minidl.learning.step import compute_update
from minidl.learning.step import regularization_score as param_penalty
from minidl.naming import Dl4jNames
from minidl.nn.conf.enums import GradientNormalization, OptimizationAlgorithm
from minidl.nn.conf.layers import Context


class Network(Dl4jNames):
    """Base class of MultiLayerNetwork and ComputationGraph (see the module docstring)."""

    def __init__(self, conf):
        self.conf = conf
        self.param_tables = None
        self.updater_state = {}
        self.listeners = []
        self.iteration_count = 0
        self.epoch_count = 0
        self.last_score = None
        self._rng = None

    # -- to be supplied by subclasses ------------------------------------------------------
    def layer_items(self):
        """[(key, layer)] in topological order, for every layer (not parameter-free vertices)."""
        raise NotImplementedError

    def _loss_and_outputs(self, inputs, labels, ctx):
        """(total loss Tensor, list of output Tensors) for lists of input and label arrays."""
        raise NotImplementedError

    # -- initialisation --------------------------------------------------------------------
    @property
    def dtype(self):
        return np.dtype(self.conf.defaults.data_type or "float32")

    def init(self, params=None, clone_params=True):
        """Create the parameters: drawn from the configuration's seed, or copied from ``params``
        (a flat vector as ``params()`` returns). Returns self. On a network that has parameters
        already, nothing is drawn again (DL4J's init() returns at once); ``params``, if given,
        are copied in (DL4J would ignore them).

        ``clone_params`` is accepted for DL4J's ``init(INDArray parameters, boolean
        cloneParametersArray)``, where ``False`` makes the network use the given array itself as
        the storage of its parameters. minidl keeps one array per parameter, not views into one
        flat vector, so it cannot share ``params``' memory: the values are always copied, whatever
        ``clone_params`` says.
        """
        if self.param_tables is None:  # as DL4J, a second init() keeps the parameters: code
            # that calls init() on a restored or trained network must not lose its weights
            rng = np.random.default_rng(self.conf.seed)
            self._build_tables({key: layer.init_params(rng, self.dtype)
                                for key, layer in self.layer_items()})
        if params is not None:
            self.set_params(params)
        return self

    def init_from_tables(self, tables):
        """Create the parameters from ``{layer key: {param: array}}`` with no random draws.

        Loading pretrained weights this way skips initialising 138 million numbers only to
        overwrite them. Every parameter of every layer must be given, with its exact shape.
        """
        arrays = {}
        for key, layer in self.layer_items():
            given = tables.get(key, {})
            for name, shape in layer.param_shapes().items():
                if name not in given:
                    raise ValueError(f"layer {layer.describe()}: no array given for parameter "
                                     f"'{key}_{name}'")
                if tuple(given[name].shape) != tuple(shape):
                    raise ValueError(f"layer {layer.describe()}: parameter '{key}_{name}' has shape "
                                     f"{tuple(given[name].shape)}, expected {tuple(shape)}")
            arrays[key] = {name: np.asarray(given[name], dtype=self.dtype)
                           for name in layer.param_shapes()}
        self._build_tables(arrays)
        return self

    def _build_tables(self, arrays):
        self.param_tables = {
            key: {name: Tensor(to_device(value), requires_grad=self._trainable(layer, name),
                               name=f"{key}_{name}")
                  for name, value in arrays[key].items()}
            for key, layer in self.layer_items()}
        # Dropout masks draw from their own generator: seeded like the weights (so reproducible)
        # but not with the same seed, or the masks would replay the weight initialisation's draws.
        self._rng = np.random.default_rng(self.conf.seed + 1)
        self.updater_state = {}

    @staticmethod
    def _trainable(layer, name):
        return not layer.frozen and layer.param_kind(name) != "state"

    def _require_init(self):
        if self.param_tables is None:
            raise RuntimeError(f"{type(self).__name__} has no parameters yet: call init() first")

    # -- parameters ------------------------------------------------------------------------
    def _param_items(self):
        self._require_init()
        for key, table in self.param_tables.items():
            for name, tensor in table.items():
                yield f"{key}_{name}", tensor

    def param_table(self, backprop_params_only=False):
        """{"<layer>_<param>": array} of the live parameter arrays (not copies)."""
        return {k: t.data for k, t in self._param_items()
                if not backprop_params_only or t.requires_grad}

    def get_param(self, key):
        return self._tensor(key).data

    def set_param(self, key, value):
        """Copy ``value`` into parameter ``key`` (shape checked)."""
        tensor = self._tensor(key)
        value = to_device(np.asarray(to_cpu(value)), device_of(tensor.data))
        if value.shape != tensor.data.shape:
            raise ValueError(f"set_param({key!r}): expected shape {tuple(tensor.data.shape)}, got "
                             f"{tuple(value.shape)}")
        tensor.data[...] = value

    def _tensor(self, key):
        for k, tensor in self._param_items():
            if k == key:
                return tensor
        raise KeyError(f"no parameter {key!r}; parameters: {[k for k, _ in self._param_items()]}")

    def params(self):
        """All parameters as one flat copy, layer by layer in order (W then b)."""
        arrays = [t.data.ravel() for _, t in self._param_items()]
        xp = get_array_module(*arrays) if arrays else np
        return xp.concatenate(arrays) if arrays else np.zeros(0, self.dtype)

    def set_params(self, flat):
        """Copy a flat vector (as returned by ``params()``) into the parameters."""
        flat = flat.data if isinstance(flat, Tensor) else flat
        expected = self.num_params()
        if flat.size != expected:
            raise ValueError(f"set_params: expected {expected} values, got {flat.size}")
        offset = 0
        for _, tensor in self._param_items():
            n = tensor.data.size
            chunk = to_device(to_cpu(flat.ravel()[offset:offset + n]), device_of(tensor.data))
            tensor.data[...] = chunk.reshape(tensor.data.shape)
            offset += n

    def num_params(self, backprop_only=False):
        return int(sum(t.data.size for _, t in self._param_items()
                       if not backprop_only or t.requires_grad))

    def layer_num_params(self, key):
        return int(sum(t.data.size for t in self.param_tables[key].values()))

    # -- listeners -------------------------------------------------------------------------
    def set_listeners(self, *listeners):
        """Replace the training listeners: ``set_listeners(a, b)`` or ``set_listeners([a, b])``;
        ``set_listeners(None)`` or ``set_listeners()`` removes them all."""
        self.listeners = _flatten_listeners(listeners)

    def add_listeners(self, *listeners):
        """Append training listeners to those already set (DL4J's addListeners)."""
        self.listeners.extend(_flatten_listeners(listeners))

    def get_listeners(self):
        """The training listeners, in call order: the network's own list, as DL4J returns its
        collection (changing it changes the listeners)."""
        return self.listeners

    # -- training --------------------------------------------------------------------------
    def get_iteration_count(self):
        """Iterations (minibatches) fitted so far."""
        return self.iteration_count

    def get_epoch_count(self):
        """Epochs (passes over an iterator) fitted so far."""
        return self.epoch_count

    def _context(self, train):
        return Context(train=train, rng=self._rng)

    def _check_algorithm(self):
        algo = self.conf.defaults.optimization_algo
        if algo not in (None, OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT):
            raise NotImplementedError(f"optimization algorithm {algo.name} is not implemented; "
                                      f"minidl trains with STOCHASTIC_GRADIENT_DESCENT")

    def _fit_batch(self, inputs, labels):
        """One iteration on one minibatch: forward, backward, update. Returns the score."""
        self._check_algorithm()
        loss = self._forward_backward(inputs, labels)
        self._apply_updates()
        self.last_score = float(loss.item()) + self.regularization_score()
        for listener in self.listeners:
            listener.iteration_done(self, self.iteration_count, self.epoch_count)
        self.iteration_count += 1
        return self.last_score

    def _forward_backward(self, inputs, labels):
        """Forward in training mode, then backward: fills ``grad`` on the trainable parameters.
        Returns the loss (without regularization)."""
        self._require_init()
        inputs = [to_device(np.asarray(x) if not hasattr(x, "shape") else x, self.device)
                  for x in inputs]
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
        for key, tensor in self._param_items():
            if tensor.grad is not None:
                gradients[key], tensor.grad = tensor.grad, None
        return gradients, float(loss.item()) + self.regularization_score()

    def _apply_updates(self):
        for key, layer in self.layer_items():
            if layer.frozen:
                continue
            table = self.param_tables[key]
            grads = {name: t.grad for name, t in table.items() if t.grad is not None}
            grads = _normalize(layer, grads)
            for name, gradient in grads.items():
                self._update_param(f"{key}_{name}", layer, name, table[name], gradient)

    def _update_param(self, full_key, layer, name, tensor, gradient):
        w = tensor.data
        updater = layer.updater_for(name)
        state = self.updater_state.get(full_key)
        if state is None:
            state = self.updater_state[full_key] = updater.init_state(
                w.shape, w.dtype, get_array_module(w))
        update = compute_update(updater, state, w, gradient, layer.regularization_for(name),
                                self.iteration_count, self.epoch_count)
        w -= update.astype(w.dtype, copy=False)
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
            loss, _ = self._loss_and_outputs([to_device(x, self.device) for x in inputs],
                                             [to_device(y, self.device) for y in labels],
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
        labels, epochs = _fit_arguments(data, labels, epochs)
        if _is_batch_source(data):
            _check_repeatable(data, epochs)
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
        if not is_dataset(data):
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

        if labels_list is None:  # DL4J: labelsList = iterator.getLabels()
            labels_list = getattr(iterator, "label_names", None) if is_dataset(iterator) else \
                getattr(iterator, "get_labels", lambda: None)()
        evaluation = Evaluation(labels=labels_list)
        reset_if_supported(iterator)
        batches = [iterator] if is_dataset(iterator) else iterator
        for batch in batches:
            features, labels = self._unpack(batch)
            predictions = self._predict(features)
            evaluation.eval(to_cpu(labels[0]), to_cpu(predictions))
        return evaluation

    def _predict(self, features):
        raise NotImplementedError

    # -- files -----------------------------------------------------------------------------
    def save(self, path, save_updater=True):
        """Write this network to the zip ``path`` (DL4J's ``save(File, boolean)``), with the
        updater's state when ``save_updater``; ``ModelSerializer.write_model`` does the work.
        Read it back with ``MultiLayerNetwork.load`` / ``ComputationGraph.load``."""
        ModelSerializer.write_model(self, path, save_updater)

    # -- copies and devices ----------------------------------------------------------------
    def clone(self):
        """An independent copy: configuration, parameters, updater state and counters, on the
        device of this network (not the default device: a copy stays where its original is)."""
        other = type(self)(self.conf.clone())
        other.init(self.params()).to(self.device)
        other.updater_state = copy.deepcopy(self.updater_state)
        other.iteration_count, other.epoch_count = self.iteration_count, self.epoch_count
        return other

    @property
    def device(self):
        """Where the parameters live, ``"cpu"`` or ``"gpu"``: input batches are moved there.

        Following the parameters (not the default device) lets ``net.to("gpu")`` alone put a
        network and its data on the GPU.
        """
        for _, tensor in self._param_items():
            return device_of(tensor.data)
        return get_device()

    def to(self, device):
        """Move parameters and updater state to ``"cpu"`` or ``"gpu"``; returns self."""
        for _, tensor in self._param_items():
            tensor.data = to_device(tensor.data, device)
        self.updater_state = {k: {n: to_device(a, device) for n, a in s.items()}
                              for k, s in self.updater_state.items()}
        return self

    # -- summary ---------------------------------------------------------------------------
    def summary(self):
        """A DL4J-style table of layers, sizes, parameter counts and shapes, plus totals."""
        rows = [("VertexName (VertexType)", "nIn,nOut", "TotalParams", "ParamsShape",
                 "Vertex Inputs")]
        for name, vertex, inputs in self._summary_vertices():
            n_in, n_out = getattr(vertex, "n_in", None), getattr(vertex, "n_out", None)
            sizes = f"{n_in},{n_out}" if n_out is not None else "-"
            table = (self.param_tables or {}).get(name, {})
            total = sum(int(t.data.size) for t in table.values())
            shapes = ", ".join(f"{p}:{tuple(t.shape)}" for p, t in table.items()) or "-"
            kind = vertex.describe().split("(", 1)[-1].rstrip(")") if hasattr(vertex, "describe") \
                else type(vertex).__name__
            if vertex is None:
                kind = "InputVertex"
            rows.append((f"{name} ({kind})", sizes, str(total) if total else "-", shapes,
                         inputs))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        line = "=" * (sum(widths) + 8)
        out = [line]
        for i, row in enumerate(rows):
            out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if i == 0:
                out.append(line)
        # As DL4J counts: frozen = the parameters of frozen layers; batch norm's running
        # statistics get no gradient but belong to a trainable layer.
        frozen = sum(self.layer_num_params(key) for key, layer in self.layer_items() if layer.frozen)
        total = self.num_params()
        out += ["-" * (sum(widths) + 8),
                f"            Total Parameters:  {total}",
                f"        Trainable Parameters:  {total - frozen}",
                f"           Frozen Parameters:  {frozen}", line]
        return "\n".join(out)

    def _summary_vertices(self):
        raise NotImplementedError


def is_dataset(obj):
    """A DataSet or MultiDataSet: features with their labels."""
    return hasattr(obj, "features") and hasattr(obj, "labels")


def _is_batch_source(obj):
    """An iterator of minibatches: a DataSetIterator or MultiDataSetIterator, a generator, or a
    list of DataSets. Not one minibatch, an array, or a list of arrays (a graph's inputs)."""
    if isinstance(obj, (list, tuple)):
        return all(is_dataset(item) for item in obj)
    if is_dataset(obj) or hasattr(obj, "shape") or isinstance(obj, (str, bytes)):
        return False
    return hasattr(obj, "reset") or hasattr(obj, "__iter__")


def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _fit_arguments(data, labels, epochs):
    """(labels, epochs) of a ``fit`` call, DL4J's ``fit(iterator, int numEpochs)`` read as such;
    a call that means nothing clear raises instead of failing deep in a layer."""
    carries_labels = is_dataset(data) or _is_batch_source(data)
    if _is_count(labels):
        if not carries_labels:
            raise TypeError(f"fit({type(data).__name__}, {labels}): labels must be an array; a "
                            f"number of epochs follows an iterator or a DataSet, as in DL4J's "
                            f"fit(iterator, num_epochs)")
        if epochs is not None:
            raise TypeError(f"fit: the number of epochs is given twice ({labels} and "
                            f"epochs={epochs})")
        labels, epochs = None, labels
    if carries_labels and labels is not None:
        raise TypeError(f"fit: a {type(data).__name__} carries its own labels; got labels "
                        f"({type(labels).__name__}) too")
    if not carries_labels and labels is None:
        raise TypeError(f"fit({type(data).__name__}): features need their labels: "
                        f"fit(features, labels), or a DataSet, or an iterator")
    epochs = 1 if epochs is None else epochs
    if not _is_count(epochs) or epochs < 1:
        raise ValueError(f"fit: the number of epochs must be a positive integer, got {epochs!r}")
    return labels, int(epochs)


def _check_repeatable(source, epochs):
    """Several epochs need an iterator that starts again (as DL4J checks resetSupported())."""
    if epochs == 1:
        return
    if hasattr(source, "reset_supported"):
        repeatable = source.reset_supported()
    else:
        repeatable = hasattr(source, "reset") or iter(source) is not source
    if not repeatable:
        raise ValueError(f"fit: {epochs} epochs need an iterator that can start again; this "
                         f"{type(source).__name__} cannot be reset (pass a list, or fit one epoch "
                         f"at a time with a fresh iterator)")


def _flatten_listeners(groups):
    """Listeners given one by one or as lists, None left out (DL4J's setListeners(null))."""
    return [listener for group in groups
            for listener in (group if isinstance(group, (list, tuple)) else [group])
            if listener is not None]


def _normalize(layer, grads):
    """DL4J's per-layer gradient normalisation, applied before regularization and updater."""
    mode = getattr(layer, "gradient_normalization", None)
    if not grads or mode in (None, GradientNormalization.NONE):
        return grads
    threshold = layer.gradient_normalization_threshold or 1.0
    xp = get_array_module(*grads.values())
    if mode == GradientNormalization.ClipElementWiseAbsoluteValue:
        return {k: xp.clip(g, -threshold, threshold) for k, g in grads.items()}
    if mode in (GradientNormalization.RenormalizeL2PerParamType,
                GradientNormalization.ClipL2PerParamType):
        groups = [{k: g} for k, g in grads.items()]
    else:
        groups = [grads]
    out = {}
    for group in groups:
        norm = float(sum(float((g * g).sum()) for g in group.values())) ** 0.5
        if mode in (GradientNormalization.RenormalizeL2PerLayer,
                    GradientNormalization.RenormalizeL2PerParamType):
            scale = 1.0 / norm if norm > 0 else 1.0
        else:
            scale = threshold / norm if norm > threshold else 1.0
        out.update({k: g * scale for k, g in group.items()})
    return out
