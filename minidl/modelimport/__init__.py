"""Model import: a network saved by another framework becomes a network of DL4J layers here,
which the transfer API edits, freezes and featurizes like a zoo model.

* ``KerasModelImport`` (``minidl.modelimport.keras``): Keras legacy HDF5 models, Keras 3
  ``.keras`` zips and weights-only h5 files with their JSON, read with h5py (the ``convert``
  extra), without TensorFlow or Keras;
* ``OnnxModelImport`` (``minidl.modelimport.onnx``): ONNX files, parsed with the ``onnx`` package
  (the ``onnx`` extra).

``import_model(path)`` picks the importer by the file's suffix, for callers (the CLI) that take
any model file. The importers load on first use, so ``import minidl.modelimport`` needs neither
h5py nor onnx.
"""

import importlib
import os

# attribute -> the module that defines it
_IMPORTERS = {
    "KerasModelImport": "minidl.modelimport.keras",
    "OnnxModelImport": "minidl.modelimport.onnx",
}

# file suffix -> (importer, its method that returns a ComputationGraph)
SUFFIXES = {
    ".h5": ("KerasModelImport", "import_keras_model_and_weights"),
    ".hdf5": ("KerasModelImport", "import_keras_model_and_weights"),
    ".keras": ("KerasModelImport", "import_keras_model_and_weights"),
    ".onnx": ("OnnxModelImport", "import_model"),
}

__all__ = ["KerasModelImport", "OnnxModelImport", "SUFFIXES", "import_model", "is_importable"]


def __getattr__(name):
    if name in _IMPORTERS:
        return getattr(importlib.import_module(_IMPORTERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_importable(path):
    """Whether ``path`` names a file that one of the importers reads (by its suffix)."""
    return os.path.splitext(str(path))[1].lower() in SUFFIXES


def import_model(path):
    """The ``ComputationGraph`` of the Keras or ONNX file at ``path``, chosen by its suffix."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: not a model file that minidl imports (expected one of "
                         f"{', '.join(sorted(SUFFIXES))})")
    importer, method = SUFFIXES[suffix]
    return getattr(__getattr__(importer), method)(path)
