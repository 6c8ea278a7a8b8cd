"""Read Keras legacy HDF5 weight files (``vgg16_weights_tf_dim_ordering_tf_kernels*.h5``).

The reading is the Keras importer's (``minidl.modelimport.keras.h5.read_keras_h5``: both
dataset-naming styles, chunked ``layer_names``, full-model files' ``model_weights``); the zoo
reports its errors as WeightFileError, like every other weight file it reads.
"""

from minidl.modelimport.keras import h5
from minidl.modelimport.keras.errors import KerasImportError
from zoo.formats import WeightFileError


def read_keras_h5(path):
    """Layers with weights, in file order: ``OrderedDict`` name -> [kernel, bias] (Keras
    layouts)."""
    try:
        return h5.read_keras_h5(path)
    except KerasImportError as error:
        raise WeightFileError(str(error)) from error
