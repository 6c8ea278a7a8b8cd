"""Read Keras legacy HDF5 weight files (``vgg16_weights_tf_dim_ordering_tf_kernels*.h5``).

Layout (reference/vgg16-weights.md §4.3): the root attribute ``layer_names`` (or chunks
``layer_names0``, ``layer_names1``, ... when large) lists every layer; each layer's group has a
``weight_names`` attribute, [kernel, bias], whose entries are paths inside the group: flat in
the 2016 files (``block1_conv1_W_1:0``), nested in Keras 2/3 files (``block1_conv1/kernel:0``).
Full-model files keep the same structure under ``model_weights``. ``h5py`` is optional and only
imported here.
"""

import collections

import numpy as np

from zoo.formats import WeightFileError


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras .h5 weight files needs h5py: pip install h5py "
                          "(or pip install 'minidl[convert]')") from None
    return h5py


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _attr_list(group, name):
    """A string-list attribute, joining Keras' chunks ``name0``, ``name1``, ... if it was split."""
    if name in group.attrs:
        return [_text(v) for v in group.attrs[name]]
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += [_text(v) for v in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return values


def read_keras_h5(path):
    """Layers with weights, in file order: ``OrderedDict`` name -> [kernel, bias] (Keras layouts)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            root = f
            if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
                root = f["model_weights"]
            names = _attr_list(root, "layer_names")
            if not names:
                raise WeightFileError(f"{path}: no 'layer_names' attribute: not a Keras weight file")
            layers = collections.OrderedDict()
            for name in names:
                group = root[name]
                weight_names = _attr_list(group, "weight_names")
                if weight_names:
                    layers[name] = [np.array(group[w]) for w in weight_names]
            return layers
    except WeightFileError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise WeightFileError(f"{path}: cannot read Keras HDF5 weights ({error}); the file may be "
                              f"truncated: delete it and download it again") from error
