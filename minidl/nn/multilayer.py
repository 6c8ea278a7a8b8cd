"""MultiLayerNetwork: a stack of layers, each feeding the next (DL4J's sequential network)."""

import copy

from minidl.autograd import Tensor, no_grad
from minidl.backend import to_cpu, to_device
from minidl.nn import model_file
from minidl.nn.conf.configuration import MultiLayerConfiguration
from minidl.nn.fitting import is_dataset
from minidl.nn.network import Network
from minidl.nn.wiring import Wiring

INPUT = "input"  # the name of the chain's input: never a layer key, which are indices


class MultiLayerNetwork(Network):
    """Layers 0..n-1 in sequence; the last is usually an OutputLayer that scores the labels.

    Input: [batch, n_in] for dense networks or [batch, channels, height, width] for images.
    Parameter keys are "<index>_<param>" ("0_W", "3_b").

    A façade over the engine (``minidl.nn.network``): the stack is run as the chain
    "input" -> "0" -> "1" -> ..., and the methods here keep DL4J's index API on top of it.
    """

    accepts_multi_dataset = False
    configuration_class = MultiLayerConfiguration
    unfrozen_accessor = "unfrozen_mln"  # TransferLearningHelper's, as DL4J names it
    noun, output_noun = "network", "last layer"

    def __init__(self, conf):
        if not isinstance(conf, MultiLayerConfiguration):
            raise TypeError(f"MultiLayerNetwork needs a MultiLayerConfiguration (from "
                            f".list()...build()), got {type(conf).__name__}")
        super().__init__(conf)

    # -- the chain the engine runs ----------------------------------------------------------
    @property
    def wiring(self):
        """The layers as the chain "input" -> "0" -> "1" -> ...: vertex names are the indices,
        which are also the parameter keys ("0_W")."""
        layers = self.conf.layers
        names = [str(i) for i in range(len(layers))]
        return Wiring(inputs=[INPUT], outputs=names[-1:], vertices=dict(zip(names, layers)),
                      vertex_inputs={name: [source]
                                     for name, source in zip(names, [INPUT] + names)},
                      preprocessors={str(i): p for i, p in self.conf.input_preprocessors.items()},
                      order=[INPUT] + names)

    def _set_vertex(self, name, vertex):
        self.conf.layers[int(name)] = vertex

    def display_name(self, name):
        return self.conf.layers[int(name)].name if name != INPUT else name

    def _reads(self, index):
        """The name of the activation layer ``index`` reads."""
        return INPUT if index == 0 else str(index - 1)

    def freeze_names(self, indices, what):
        """The layers ``what`` was asked to freeze up to: at most one index k (layers 0..k),
        below the output layer, which always trains."""
        if len(indices) > 1:
            raise ValueError(f"{what}(mln, k) takes one layer index")
        if not indices:
            return []
        k, last = indices[0], len(self.conf.layers) - 2
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= last:
            raise IndexError(f"{what}(mln, {k!r}): freeze layers 0..k with k in 0..{last} "
                             f"(the output layer trains)")
        return [str(k)]

    def vertex_types(self):
        """{"input" or layer index: the InputType of its output} (None where unknown)."""
        types = {INPUT: self.conf.input_type}
        for i, (layer, reads) in enumerate(zip(self.conf.layers, self.conf.infer_types())):
            types[str(i)] = layer.output_type(reads) if reads is not None else None
        return types

    def vertex_from_text(self, text):
        """The layer a user typed (a command-line ``--layer``): an index below the output layer,
        as ``freeze_names`` takes it."""
        last = len(self.conf.layers) - 2  # the output layer itself always trains
        if not text.isdigit() or int(text) > last:
            raise ValueError(f"the model is a MultiLayerNetwork: --layer takes a layer index "
                             f"0..{last} (below the output layer), got {text!r}")
        return int(text)

    @staticmethod
    def freeze_example(what):
        """How a freeze call names its layers, for error messages."""
        return f"{what}(mln, 1)"

    def unfrozen_network(self, frozen_names):
        """(the MultiLayerNetwork of the layers above the last frozen one, {its key: key here})."""
        layers, conf = self.conf.layers, self.conf
        k = max(int(name) for name in frozen_names if name != INPUT)
        types = conf.infer_types()
        sub = MultiLayerConfiguration(
            layers=[copy.deepcopy(layer) for layer in layers[k + 1:]],
            input_preprocessors={i - k - 1: copy.deepcopy(p)
                                 for i, p in conf.input_preprocessors.items() if i > k},
            input_type=layers[k].output_type(types[k]) if types[k] is not None else None,
            defaults=copy.deepcopy(conf.defaults))
        sub.infer_types()
        unfrozen = MultiLayerNetwork(sub).init().to(self.device)
        key_map = {key: str(int(key) + k + 1) for key, _ in unfrozen.layer_items()}
        unfrozen.copy_params_from(self, key_map)
        return unfrozen, key_map

    @property
    def layers(self):
        return list(self.conf.layers)

    def get_layers(self):
        """The layers, in order."""
        return self.layers

    def get_layer(self, index):
        """The layer configuration at ``index`` (or with that name)."""
        layers = self.conf.layers
        if isinstance(index, str) and not index.isdigit():
            for layer in layers:
                if layer.name == index:
                    return layer
            raise KeyError(f"no layer named {index!r}; layers: {[l.name for l in layers]}")
        index = int(index)
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"layer index {index} out of range: the network has {len(layers)} "
                             f"layers (0..{len(layers) - 1})")
        return layers[index]

    def get_n_layers(self):
        """How many layers."""
        return len(self.conf.layers)

    def layer_size(self, index):
        """Layer ``index``'s n_out (0 without one)."""
        return getattr(self.get_layer(index), "n_out", 0) or 0

    def layer_input_size(self, index):
        """Layer ``index``'s n_in (0 without one)."""
        return getattr(self.get_layer(index), "n_in", 0) or 0

    def get_layer_wise_configurations(self):
        """The MultiLayerConfiguration."""
        return self.conf

    get_configuration = get_layer_wise_configurations

    @staticmethod
    def load(path, load_updater=True):
        """The MultiLayerNetwork saved in the zip ``path`` by ``save`` or ModelSerializer, with
        its updater's state when ``load_updater`` (DL4J's ``MultiLayerNetwork.load(File,
        boolean)``)."""
        return model_file.restore(path, MultiLayerNetwork, load_updater)

    # -- forward: DL4J's index API over the chain -----------------------------------------
    def feed_forward(self, x, train=False):
        """Activations of every layer, input first: [x, a0, a1, ..., a(n-1)] (arrays)."""
        return self.feed_forward_to_layer(len(self.conf.layers) - 1, x, train)

    def feed_forward_to_layer(self, layer_index, x, train=False):
        """[x, a0, ..., a(layer_index)] (arrays)."""
        names = [INPUT] + [str(i) for i in range(layer_index + 1)]
        with no_grad():
            acts = self._activations(self._given([x]), self._context(train), until=names)
        return [acts[name].data for name in names]

    def activate_selected_layers(self, from_layer, to_layer, x, train=False):
        """The output array of layer ``to_layer`` when ``x`` goes into layer ``from_layer``
        (DL4J's ``activateSelectedLayers``); no earlier activation is kept meanwhile."""
        n = len(self.conf.layers)
        if not 0 <= from_layer <= to_layer < n:
            raise IndexError(f"activate_selected_layers({from_layer}, {to_layer}): need "
                             f"0 <= from <= to < {n} (the number of layers)")
        given = {self._reads(from_layer): Tensor(to_device(x, self.device))}
        with no_grad():
            acts = self._activations(given, self._context(train), until=[str(to_layer)])
        return acts[str(to_layer)].data

    def output(self, x, train=False):
        """The network's output array for input ``x`` (inference mode unless ``train``)."""
        return self.output_arrays([x], train)[0]

    def predict(self, x):
        """The index of the highest output per example: a NumPy int array ``[batch]`` (DL4J's
        ``int[] predict(INDArray)``, argmax of ``output(x)``), for classifiers whose output is
        ``[batch, classes]``. Given a DataSet with label names, the predicted names instead
        (DL4J's ``predict(DataSet)``)."""
        if is_dataset(x):
            if x.get_label_names() is None:
                raise ValueError("predict(DataSet) returns label names, and this DataSet has "
                                 "none (set_label_names); predict(features) gives the indices")
            return [x.get_label_name(int(i)) for i in self.predict(x.features)]
        out = self.output(x)
        if out.ndim != 2:
            raise ValueError(f"predict: needs an output of shape [batch, classes]; the last layer "
                             f"{self.conf.layers[-1].describe()} gives {tuple(out.shape)}. Use "
                             f"output() for the activations")
        return to_cpu(out.argmax(axis=1))

    def _summary_vertices(self):
        for i, layer in enumerate(self.conf.layers):
            yield str(i), layer, "-"
