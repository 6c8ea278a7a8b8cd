"""ModelSerializer: a trained network in one zip file, and back (DL4J's ``ModelSerializer``).

The zip holds four entries, and two more when a normalizer was saved with the model:

=====================  ============================================================================
``configuration.json``  the full configuration (``conf.to_json()``): layers, vertices, frozen
                        wrappers, preprocessors, updaters, seed and data type
``coefficients.npz``    every parameter by key (``"0_W"``, ``"fc2_b"``), as plain arrays
``updaterState.npz``    the updater's state per parameter, keyed ``"<param key>/<state name>"``
                        (``"0_W/M"`` for Adam's first moment); only when the updater was saved
``meta.json``           format version, network type, iteration and epoch counts, the dropout
                        generator's state and the minidl version
``normalizer.json``     the input normalizer the model was trained with (``normalizer.state()``'s
                        settings: its ``"type"`` and scalar fields); only when one was saved
``normalizer.npz``      that normalizer's statistics (NormalizerStandardize's ``mean``, ``std``,
                        ``label_mean``, ``label_std``); only when it has some
=====================  ============================================================================

DL4J keeps the normalizer in the model zip too (its ``normalizer.bin``), so that whoever uses the
model later feeds it data normalized the same way.

Arrays are stored with ``np.savez`` and read with ``allow_pickle=False``, so opening a model file
never runs code from it. The file is written to a temporary file beside the target and renamed
over it, so a crash mid-write leaves the previous model intact.

Like DL4J's ``writeModel(model, OutputStream, ...)`` and ``restore*(InputStream)``, every method
that takes a file name also takes a binary file object (``io.BytesIO``, an open file): the zip
is written to or read from it as it is, and it is left open. (``add_normalizer_to_model``
rewrites a file, so it takes a file name only, as DL4J's.)
"""

from minidl.naming import Dl4jNames
from minidl.nn import model_file
from minidl.nn.graph import ComputationGraph
from minidl.nn.model_file import _seekable
from minidl.nn.multilayer import MultiLayerNetwork


class ModelSerializer(Dl4jNames):
    """Writes and restores MultiLayerNetwork / ComputationGraph zips (static methods only).

    >>> ModelSerializer.write_model(net, "model.zip", save_updater=True)
    >>> net = ModelSerializer.restore_multi_layer_network("model.zip")
    """

    write_model = staticmethod(model_file.write_model)
    add_normalizer_to_model = staticmethod(model_file.add_normalizer_to_model)
    restore_normalizer_from_file = staticmethod(model_file.restore_normalizer_from_file)

    @staticmethod
    def restore_multi_layer_network(path, load_updater=True):
        """The MultiLayerNetwork saved in ``path`` (with its updater state when ``load_updater``)."""
        return model_file.restore(path, MultiLayerNetwork, load_updater)

    @staticmethod
    def restore_computation_graph(path, load_updater=True):
        """The ComputationGraph saved in ``path`` (with its updater state when ``load_updater``)."""
        return model_file.restore(path, ComputationGraph, load_updater)

    @staticmethod
    def restore_model(path, load_updater=True):
        """Whichever network ``path`` holds (its meta.json says), like DL4J's ModelGuesser."""
        path = _seekable(path)
        saved = model_file.saved_network_type(path)
        network_class = MultiLayerNetwork if saved == "MultiLayerNetwork" else ComputationGraph
        return model_file.restore(path, network_class, load_updater)

    @staticmethod
    def restore_multi_layer_network_and_normalizer(path, load_updater=True):
        """``(network, normalizer)`` from ``path``: its MultiLayerNetwork and its normalizer
        (None when none was saved)."""
        return _with_normalizer(ModelSerializer.restore_multi_layer_network, path, load_updater)

    @staticmethod
    def restore_computation_graph_and_normalizer(path, load_updater=True):
        """``(network, normalizer)`` from ``path``: its ComputationGraph and its normalizer
        (None when none was saved)."""
        return _with_normalizer(ModelSerializer.restore_computation_graph, path, load_updater)


def _with_normalizer(restore, path, load_updater):
    path = _seekable(path)  # read twice
    return restore(path, load_updater), model_file.restore_normalizer_from_file(path)
