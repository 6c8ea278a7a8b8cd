"""Keras model import, DL4J's ``KerasModelImport``: Keras files -> minidl networks, without
TensorFlow or Keras (h5py, the ``convert`` extra, and the standard library).

Files: legacy HDF5 full models (``model.save("m.h5")``), Keras 3 ``.keras`` zips, and a model
JSON (``model.to_json()``) with a weights-only h5; the Keras 2 and Keras 3 config dialects;
nested models (a Keras application used as a layer) flattened into one graph. Vertex and layer
names are the Keras layer names; imported networks take NCHW input like every network here.
The layers, DL4J's training-config rules and what is refused: docs/keras-import.md.

Modules: ``files`` (reading the files), ``h5`` (Keras' weight layouts), ``config`` (the
dialects, nested models, refusing code), ``layers`` and ``activations`` (one converter per
Keras layer), ``kernels`` (weight layouts), ``training`` (losses, optimizers), ``model``
(assembling the network).
"""

from minidl.modelimport.keras import files, model
from minidl.modelimport.keras.errors import (InvalidKerasConfigurationException,
                                             KerasImportError,
                                             UnsupportedKerasConfigurationException)
from minidl.naming import Dl4jNames

__all__ = ["KerasModelImport", "KerasImportError", "InvalidKerasConfigurationException",
           "UnsupportedKerasConfigurationException"]


def _read(path, weights_path):
    return (files.read_model_file(path) if weights_path is None
            else files.read_json_and_weights(path, weights_path))


def _network(kfile, enforce_training_config, build, wanted):
    """``build`` (``model.graph`` or ``model.stack``) of ``kfile``'s plan."""
    the_plan = model.plan(kfile)
    if wanted is not None and the_plan.kind != wanted:
        raise InvalidKerasConfigurationException(
            f"{kfile.path}: a Keras {the_plan.kind} model; import it with "
            f"KerasModelImport.import_keras_model_and_weights, which returns a "
            f"ComputationGraph (import_keras_sequential_model_and_weights takes Sequential "
            f"models and returns a MultiLayerNetwork)")
    defaults = model.apply_training_config(the_plan, kfile, enforce_training_config)
    return build(the_plan, defaults, kfile.path)


class KerasModelImport(Dl4jNames):
    """DL4J's ``KerasModelImport``: static methods that read a Keras model file.

    ``path`` is a ``.h5`` / ``.hdf5`` full model or a ``.keras`` zip; with ``weights_path``,
    ``path`` is the model's JSON and ``weights_path`` its weights-only h5 (DL4J's two-file
    overloads). ``enforce_training_config``: turn the compiled loss into output layers and the
    optimizer into the updater, refusing what cannot be carried over (training.py); without
    it the last layer stays what Keras has, e.g. a softmax DenseLayer. Raises
    FileNotFoundError, InvalidKerasConfigurationException (not a Keras model, weights that do
    not fit) or UnsupportedKerasConfigurationException (a layer or setting minidl does not
    import, a Lambda or custom object), each naming the file and layer.
    """

    @staticmethod
    def import_keras_model_and_weights(path, weights_path=None, enforce_training_config=False):
        """A Functional or Sequential Keras model -> ComputationGraph (a Sequential one as a
        chain). ``weights_path`` may also be given as a bool: DL4J's ``(path, enforce)``."""
        if isinstance(weights_path, bool):
            weights_path, enforce_training_config = None, weights_path
        return _network(_read(path, weights_path), enforce_training_config, model.graph, None)

    @staticmethod
    def import_keras_sequential_model_and_weights(path, weights_path=None,
                                                  enforce_training_config=False):
        """A Sequential Keras model -> MultiLayerNetwork; a Functional one is an error that
        points to ``import_keras_model_and_weights``."""
        if isinstance(weights_path, bool):
            weights_path, enforce_training_config = None, weights_path
        return _network(_read(path, weights_path), enforce_training_config, model.stack,
                        "Sequential")
