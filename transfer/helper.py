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

The helper does not care which kind of network it splits: freezing, the boundary and the
unfrozen part are the engine's (``Network.freeze``, ``Wiring.boundary``,
``Network.unfrozen_network``). Only DL4J's own ``unfrozen_graph()`` / ``unfrozen_mln()`` refuse
the other kind.
"""

from minidl.data.dataset import DataSet, MultiDataSet, as_list
from minidl.naming import Dl4jNames
from minidl.nn.network import Network


class TransferLearningHelper(Dl4jNames):
    """Splits a network at its frozen boundary (see the module docstring).

    ``TransferLearningHelper(graph, "fc2")`` freezes ``fc2`` and its ancestors in place;
    ``TransferLearningHelper(graph)`` uses the layers that are frozen already;
    ``TransferLearningHelper(mln, k)`` freezes layers 0..k in place; ``(mln)`` uses existing ones.

    ``boundary`` names the activations the unfrozen part reads (sorted; for a graph also
    ``graph_inputs``, DL4J's name); ``featurize`` returns them in that order.
    """

    def __init__(self, network, *frozen_until):
        if not isinstance(network, Network):
            raise TypeError(f"TransferLearningHelper needs a ComputationGraph or "
                            f"MultiLayerNetwork, got {type(network).__name__}")
        network._require_init()
        self.network = network
        self.frozen = network.freeze(network.freeze_names(frozen_until, "TransferLearningHelper"))
        self.boundary = network.wiring.boundary(self.frozen)
        if not set(self.boundary) & {n for n in self.frozen if n in network.wiring.vertices}:
            raise ValueError(f"TransferLearningHelper: the network has no frozen layers; name "
                             f"the layer to freeze up to, e.g. "
                             f"{network.freeze_example('TransferLearningHelper')}")
        self.unfrozen, self._key_map = network.unfrozen_network(self.frozen)

    @property
    def graph_inputs(self):
        """DL4J's name for the unfrozen graph's inputs: ``boundary``."""
        return list(self.boundary)

    def boundary_names(self):
        """How users name the boundary activations (a layer's name rather than its index)."""
        return [self.network.display_name(name) for name in self.boundary]

    # -- public API ------------------------------------------------------------------------
    def unfrozen_graph(self):
        """The unfrozen part of a ComputationGraph (DL4J refuses a MultiLayerNetwork's here)."""
        return self._unfrozen_as("unfrozen_graph")

    def unfrozen_mln(self):
        """The unfrozen part of a MultiLayerNetwork (DL4J refuses a ComputationGraph's here)."""
        return self._unfrozen_as("unfrozen_mln")

    def _unfrozen_as(self, accessor):
        right = self.unfrozen.unfrozen_accessor
        if accessor != right:
            raise ValueError(f"this helper was made from a {type(self.network).__name__}: use "
                             f"{right}()")
        return self.unfrozen

    def featurize(self, data, precision="fp32"):
        """The boundary activations of ``data`` (DataSet or MultiDataSet) with the same labels.

        One feature array per input of the unfrozen part, in ``boundary`` (sorted) order; a
        DataSet comes back when there is one. Label masks are kept (DL4J keeps them too).
        ``precision="fp16"`` runs the frozen part in half precision on the GPU (float32 weights
        kept, float32 features returned: ``minidl.nn.precision``).
        """
        multi = isinstance(data.features, (list, tuple)) or isinstance(data, MultiDataSet)
        if multi and not self.network.accepts_multi_dataset:
            raise TypeError(f"featurize: a {type(self.network).__name__} takes a DataSet with one "
                            f"features array, got a {type(data).__name__}")
        if _masks(data, "features"):
            raise ValueError("featurize: feature masks are not supported (the frozen layers here "
                             "are not recurrent: a mask would not change their output)")
        features = self.network.activations_at(self.boundary, as_list(data.features),
                                               precision=precision)
        label_masks = _masks(data, "labels")
        if len(features) == 1 and not isinstance(data.labels, (list, tuple)):
            return DataSet(features[0], data.labels, labels_mask=label_masks and label_masks[0])
        return MultiDataSet(features, as_list(data.labels), labels_masks=label_masks)

    def fit_featurized(self, data, epochs=1):
        """Train the unfrozen part on featurized data (DataSet, MultiDataSet or an iterator),
        then copy its parameters into the original network."""
        self.unfrozen.fit(data, epochs=epochs)
        self.copy_unfrozen_back()
        return self.unfrozen.score()

    def copy_unfrozen_back(self):
        """Copy the unfrozen part's parameters into the original network: what
        ``fit_featurized`` does after training, for an unfrozen part trained elsewhere (on a
        Dask cluster by ``DaskComputationGraph``, say)."""
        self.network.copy_params_from(self.unfrozen, {orig: sub for sub, orig
                                                      in self._key_map.items()})

    def output_from_featurized(self, features):
        """The network's output for featurized inputs: an array, or a list of arrays for a
        graph given a list or with several outputs."""
        outputs = self.unfrozen.output_arrays(as_list(features))
        if not isinstance(features, (list, tuple)) and len(outputs) == 1:
            return outputs[0]
        return outputs


def _masks(data, kind):
    """The list of ``kind`` ("features" or "labels") masks of a DataSet or MultiDataSet, or None
    when it has none."""
    masks = getattr(data, f"{kind}_mask", None)
    if masks is None:
        masks = getattr(data, f"{kind}_masks", None)
    masks = as_list(masks) if masks is not None else []
    return masks if any(m is not None for m in masks) else None
