"""MultiLayerNetwork: a stack of layers, each feeding the next (DL4J's sequential network)."""

from minidl.autograd import Tensor, no_grad
from minidl.backend import to_cpu, to_device
from minidl.nn.serializer import ModelSerializer
from minidl.nn.conf.configuration import MultiLayerConfiguration
from minidl.nn.network import Network, is_dataset


class MultiLayerNetwork(Network):
    """Layers 0..n-1 in sequence; the last is usually an OutputLayer that scores the labels.

    Input: [batch, n_in] for dense networks or [batch, channels, height, width] for images.
    Parameter keys are "<index>_<param>" ("0_W", "3_b").
    """

    def __init__(self, conf):
        if not isinstance(conf, MultiLayerConfiguration):
            raise TypeError(f"MultiLayerNetwork needs a MultiLayerConfiguration (from "
                            f".list()...build()), got {type(conf).__name__}")
        super().__init__(conf)

    def layer_items(self):
        return [(str(i), layer) for i, layer in enumerate(self.conf.layers)]

    @property
    def layers(self):
        return list(self.conf.layers)

    def get_layers(self):
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
        return len(self.conf.layers)

    def layer_size(self, index):
        return getattr(self.get_layer(index), "n_out", 0) or 0

    def layer_input_size(self, index):
        return getattr(self.get_layer(index), "n_in", 0) or 0

    def get_layer_wise_configurations(self):
        return self.conf

    get_configuration = get_layer_wise_configurations

    @staticmethod
    def load(path, load_updater=True):
        """The MultiLayerNetwork saved in the zip ``path`` by ``save`` or ModelSerializer, with
        its updater's state when ``load_updater`` (DL4J's ``MultiLayerNetwork.load(File,
        boolean)``)."""
        return ModelSerializer.restore_multi_layer_network(path, load_updater)

    # -- forward ---------------------------------------------------------------------------
    def _layer_input(self, i, x):
        """What layer ``i`` reads: ``x`` through the layer's input preprocessor, if it has one."""
        preprocessor = self.conf.input_preprocessors.get(i)
        return x if preprocessor is None else preprocessor.pre_process(x)

    def _layer_outputs(self, x, ctx, upto, start=0):
        """Yields the input as a Tensor, then the output of layers ``start``..``upto`` one by one
        (``x`` is what layer ``start`` reads).

        A generator holds only the activation it last yielded, so a caller that keeps only the
        latest lets each go as soon as the next layer has read it: under ``no_grad()`` that
        frees it.
        """
        self._require_init()
        upto = len(self.conf.layers) - 1 if upto is None else upto
        a = Tensor(to_device(x, self.device))
        yield a
        for i in range(start, upto + 1):
            a = self.conf.layers[i].forward(self._layer_input(i, a), self.param_tables[str(i)],
                                            ctx)
            yield a

    def _activations(self, x, ctx, upto=None):
        """[input, output of layer 0, ..., output of layer ``upto``] as Tensors."""
        return list(self._layer_outputs(x, ctx, upto))

    def _forward(self, x, ctx, upto=None):
        """The output of layer ``upto`` (default: the last) as a Tensor, keeping no earlier
        activation alive."""
        for a in self._layer_outputs(x, ctx, upto):
            pass
        return a

    def feed_forward(self, x, train=False):
        """Activations of every layer, input first: [x, a0, a1, ..., a(n-1)] (arrays)."""
        with no_grad():
            return [a.data for a in self._activations(x, self._context(train))]

    def feed_forward_to_layer(self, layer_index, x, train=False):
        """[x, a0, ..., a(layer_index)] (arrays)."""
        with no_grad():
            return [a.data for a in self._activations(x, self._context(train), layer_index)]

    def activate_selected_layers(self, from_layer, to_layer, x, train=False):
        """The output array of layer ``to_layer`` when ``x`` goes into layer ``from_layer``
        (DL4J's ``activateSelectedLayers``); no earlier activation is kept meanwhile."""
        n = len(self.conf.layers)
        if not 0 <= from_layer <= to_layer < n:
            raise IndexError(f"activate_selected_layers({from_layer}, {to_layer}): need "
                             f"0 <= from <= to < {n} (the number of layers)")
        with no_grad():
            for a in self._layer_outputs(x, self._context(train), to_layer, from_layer):
                pass
        return a.data

    def output(self, x, train=False):
        """The network's output array for input ``x`` (inference mode unless ``train``)."""
        with no_grad():
            return self._forward(x, self._context(train)).data

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

    def _predict(self, features):
        return self.output(features[0])

    def _loss_and_outputs(self, inputs, labels, ctx):
        if len(inputs) != 1 or len(labels) != 1:
            raise ValueError(f"MultiLayerNetwork takes one features array and one labels array, "
                             f"got {len(inputs)} and {len(labels)}")
        last = len(self.conf.layers) - 1
        out_layer = self.conf.layers[last]
        if not out_layer.is_output:
            raise ValueError(f"cannot fit: the last layer {out_layer.describe()} is not an output "
                             f"layer (OutputLayer or LossLayer) and has no loss")
        x = self._layer_input(last, self._forward(inputs[0], ctx, last - 1))
        loss, out = out_layer.compute_loss(x, self.param_tables[str(last)], Tensor(labels[0]), ctx)
        return loss, [out]

    def _summary_vertices(self):
        for i, layer in enumerate(self.conf.layers):
            yield str(i), layer, "-"
