"""TransferLearningHelper: featurize once through the frozen part, then train only the rest.

Training a network whose bottom is frozen repeats the same frozen forward pass every epoch,
and for VGG16 that pass is almost all of the cost. The helper splits the network at the frozen
boundary:

* ``featurize(data)`` runs the frozen part once (inference mode, no graph) and returns the
  boundary activations with the same labels;
* ``fit_featurized(featurized)`` trains a network made of the unfrozen part only on those
  activations, then copies the trained parameters back into the original network, so the
  original is always up to date.

Because the frozen part runs in inference mode in both cases, fitting on featurized data gives
exactly the parameters that fitting the whole frozen network would (same updater, same batches).
"""

import copy

from minidl.data.dataset import DataSet, MultiDataSet, as_list
from minidl.naming import Dl4jNames
from minidl.nn.conf.configuration import ComputationGraphConfiguration, MultiLayerConfiguration
from minidl.nn.conf.layers import FrozenLayer, Layer
from minidl.nn.conf.vertices import FrozenVertex
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork


class TransferLearningHelper(Dl4jNames):
    """Splits a network at its frozen boundary (see the module docstring).

    ``TransferLearningHelper(graph, "fc2")`` freezes ``fc2`` and its ancestors in place;
    ``TransferLearningHelper(graph)`` uses the layers that are frozen already;
    ``TransferLearningHelper(mln, k)`` freezes layers 0..k in place; ``(mln)`` uses existing ones.
    """

    def __init__(self, network, *frozen_until):
        network._require_init()
        self.network = network
        if isinstance(network, ComputationGraph):
            self._init_graph(list(frozen_until))
        elif isinstance(network, MultiLayerNetwork):
            if len(frozen_until) > 1:
                raise ValueError("TransferLearningHelper(mln, k) takes one layer index")
            self._init_mln(frozen_until[0] if frozen_until else None)
        else:
            raise TypeError(f"TransferLearningHelper needs a ComputationGraph or "
                            f"MultiLayerNetwork, got {type(network).__name__}")

    # -- graphs ----------------------------------------------------------------------------
    def _init_graph(self, names):
        graph, conf = self.network, self.network.conf
        self.frozen = frozen = self._freeze_graph(names)
        boundary = [name for name in frozen if any(
            name in conf.vertex_inputs[v] for v in conf.vertices if v not in frozen)]
        if not boundary:
            raise ValueError("TransferLearningHelper: no frozen layers found; name the layer to "
                             "freeze up to, e.g. TransferLearningHelper(graph, 'fc2')")
        # The unfrozen part's inputs: the frozen activations it reads, plus original inputs that
        # feed only unfrozen vertices. Sorted, where DL4J's order follows a HashSet.
        unfrozen_inputs = [name for name in conf.network_inputs if name not in frozen]
        self.graph_inputs = sorted(boundary + unfrozen_inputs)
        self.unfrozen = ComputationGraph(self._subset_conf(frozen, self.graph_inputs)).init() \
            .to(graph.device)  # where the network is, which need not be the default device
        self._copy_params(to_unfrozen=True)

    def _freeze_graph(self, names):
        """Freeze, in place, the named vertices, the ones frozen already, and all their
        ancestors; return the names of everything frozen (inputs included)."""
        graph, conf = self.network, self.network.conf
        for name in names:
            if name not in conf.known_names():
                raise ValueError(f"TransferLearningHelper: no vertex named {name!r}; vertices: "
                                 f"{conf.known_names()}")
        already = [name for name, vertex in conf.vertices.items() if vertex.frozen]
        frozen = conf.ancestors(list(names) + already)
        for name in graph.topological_order:
            vertex = conf.vertices.get(name)
            if name in frozen and vertex is not None and not vertex.frozen:
                _freeze_vertex(graph, name)
        return frozen

    def _subset_conf(self, frozen, inputs):
        conf = self.network.conf
        types = conf.infer_types()
        sub = ComputationGraphConfiguration(
            vertices={n: copy.deepcopy(v) for n, v in conf.vertices.items() if n not in frozen},
            network_inputs=list(inputs),
            network_outputs=list(conf.network_outputs),
            input_types=[types[n] for n in inputs] if all(types[n] for n in inputs) else [],
            defaults=copy.deepcopy(conf.defaults))
        sub.vertex_inputs = {n: list(conf.vertex_inputs[n]) for n in sub.vertices}
        sub.input_preprocessors = {n: copy.deepcopy(p) for n, p in conf.input_preprocessors.items()
                                   if n in sub.vertices}
        sub.validate()
        return sub

    # -- multi-layer networks --------------------------------------------------------------
    def _init_mln(self, frozen_till):
        net = self.network
        layers = net.conf.layers
        if frozen_till is not None:
            if not 0 <= frozen_till < len(layers) - 1:
                raise IndexError(f"TransferLearningHelper(mln, {frozen_till}): freeze layers "
                                 f"0..k with k in 0..{len(layers) - 2} (the output layer trains)")
            for i in range(frozen_till + 1):
                if not layers[i].frozen:
                    _freeze_layer(net, i, str(i))
        frozen = [i for i, layer in enumerate(layers) if layer.frozen]
        if not frozen:
            raise ValueError("TransferLearningHelper: the network has no frozen layers; pass the "
                             "index to freeze up to, e.g. TransferLearningHelper(mln, 1)")
        self.frozen_till = max(frozen)
        types = net.conf.infer_types()
        k = self.frozen_till
        sub = MultiLayerConfiguration(
            layers=[copy.deepcopy(l) for l in layers[k + 1:]],
            input_preprocessors={i - k - 1: copy.deepcopy(p)
                                 for i, p in net.conf.input_preprocessors.items() if i > k},
            input_type=layers[k].output_type(types[k]) if types[k] is not None else None,
            defaults=copy.deepcopy(net.conf.defaults))
        sub.infer_types()
        self.unfrozen = MultiLayerNetwork(sub).init().to(net.device)
        self._copy_params(to_unfrozen=True)

    # -- parameters between the original and the unfrozen part ------------------------------
    def _key_map(self):
        """{unfrozen network key: original network key}."""
        if isinstance(self.network, ComputationGraph):
            return {key: key for key, _ in self.unfrozen.layer_items()}
        offset = self.frozen_till + 1
        return {key: str(int(key) + offset) for key, _ in self.unfrozen.layer_items()}

    def _copy_params(self, to_unfrozen):
        """Copy parameters original -> unfrozen part (or back), by layer."""
        for sub_key, orig_key in self._key_map().items():
            sub = self.unfrozen.param_tables[sub_key]
            orig = self.network.param_tables[orig_key]
            source, target = (orig, sub) if to_unfrozen else (sub, orig)
            for name, tensor in target.items():
                tensor.data[...] = source[name].data

    # -- public API ------------------------------------------------------------------------
    def unfrozen_graph(self):
        if not isinstance(self.network, ComputationGraph):
            raise ValueError("this helper was made from a MultiLayerNetwork: use unfrozen_mln()")
        return self.unfrozen

    def unfrozen_mln(self):
        if not isinstance(self.network, MultiLayerNetwork):
            raise ValueError("this helper was made from a ComputationGraph: use unfrozen_graph()")
        return self.unfrozen

    def featurize(self, data):
        """The boundary activations of ``data`` (DataSet or MultiDataSet) with the same labels.

        Graph: one feature array per input of the unfrozen part, in ``graph_inputs`` (sorted)
        order; a DataSet comes back when there is one. Multi-layer: the output of the last
        frozen layer.
        """
        if getattr(data, "features_mask", None) is not None:
            raise ValueError("featurize: datasets with feature masks are not supported")
        features = as_list(data.features)
        if isinstance(self.network, MultiLayerNetwork):
            if len(features) != 1:
                raise ValueError("featurize: a MultiLayerNetwork takes a DataSet with one "
                                 "features array")
            # only the boundary's activation is kept, never the layers' below it
            boundary = self.network.activate_selected_layers(0, self.frozen_till, features[0])
            return DataSet(boundary, data.labels)
        out = self._graph_features(features)
        if len(out) == 1 and not isinstance(data.labels, (list, tuple)):
            return DataSet(out[0], data.labels)
        return MultiDataSet(out, as_list(data.labels))

    def _graph_features(self, features):
        acts = self.network.feed_forward(*features, until=self.graph_inputs)
        return [acts[name] for name in self.graph_inputs]

    def fit_featurized(self, data, epochs=1):
        """Train the unfrozen part on featurized data (DataSet, MultiDataSet or an iterator),
        then copy its parameters into the original network."""
        self.unfrozen.fit(data, epochs=epochs)
        self._copy_params(to_unfrozen=False)
        return self.unfrozen.score()

    def output_from_featurized(self, features):
        """The network's output for featurized inputs (array, or list of arrays for a graph)."""
        if isinstance(self.unfrozen, ComputationGraph):
            outputs = self.unfrozen.output(features)
            if not isinstance(features, (list, tuple)) and len(outputs) == 1:
                return outputs[0]
            return outputs
        return self.unfrozen.output(features)


def _freeze_vertex(graph, name):
    """Wrap vertex ``name`` of ``graph`` as frozen, in place (parameters stay, stop training)."""
    vertex = graph.conf.vertices[name]
    if isinstance(vertex, Layer):
        graph.conf.vertices[name] = FrozenLayer(layer=vertex, name=name)
        _stop_training(graph, name)
    else:
        graph.conf.vertices[name] = FrozenVertex(vertex=vertex)


def _freeze_layer(net, index, key):
    net.conf.layers[index] = FrozenLayer(layer=net.conf.layers[index], name=net.conf.layers[index].name)
    _stop_training(net, key)


def _stop_training(net, key):
    for tensor in net.param_tables.get(key, {}).values():
        tensor.requires_grad = False
        tensor.grad = None
    for state_key in [k for k in net.updater_state if k.startswith(f"{key}_")]:
        del net.updater_state[state_key]
