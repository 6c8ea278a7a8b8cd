"""Keras' HDF5 weight layouts, read with h5py (the ``convert`` extra; imported here only).

Two layouts (reference/modern-cnns.md §3.1-3.3):

* legacy (``model.save("m.h5")``'s ``model_weights`` group, ``save_weights`` files, the Keras
  Applications downloads): the attribute ``layer_names`` (split into ``layer_names0``,
  ``layer_names1``, ... when large) lists the layers; each layer's group has ``weight_names``,
  paths inside the group: flat in the 2016 files (``block1_conv1_W_1:0``), nested in Keras 2/3
  files (``conv1/kernel:0``, ``conv1/kernel``; a nested model's ``inner/c1/kernel``);
* Keras 3 (``model.weights.h5`` inside a ``.keras`` zip): ``layers/<snake_name>/vars/0, 1, ...``
  in ``layer.weights`` order, the layer's own name in the ``vars`` group's ``name`` attribute,
  nested models recursing under ``layers/<model>/layers/...``.

Both readers give ``{key: [(weight name or None, array)]}``, ``key`` the layer's path of
names from the top model down (``("inner", "c1")``), so nested models keep their scopes.
"""

import collections
import re

import numpy as np

from minidl.modelimport.keras.errors import InvalidKerasConfigurationException

# a TF variable suffix (":0") and Keras 1's uniquifying "_1" of the 2016 files
_SUFFIX = re.compile(r"(_\d+)?(:\d+)?$")


def h5py_module():
    """h5py, or a MissingDependencyError that says how to install it."""
    from minidl.io.optional import require
    return require("h5py", "reading Keras .h5 / .keras files")


def text(value):
    """An HDF5 string attribute as str (Keras 3 files read back as str, older ones as bytes)."""
    return value.decode("utf8") if hasattr(value, "decode") else str(value)


def attr_list(group, name):
    """A string-list attribute, joining Keras' chunks ``name0``, ``name1``, ... if it was split."""
    if name in group.attrs:
        return [text(v) for v in np.atleast_1d(group.attrs[name])]
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += [text(v) for v in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return values


def legacy_root(f):
    """The group holding the layers: the file itself, or a full model's ``model_weights``."""
    if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
        return f["model_weights"]
    return f


def _legacy_key(group_name, weight_name):
    """(layer key, weight name) of one ``weight_names`` entry of layer group ``group_name``."""
    parts = weight_name.split("/")
    if len(parts) == 1:  # 2016 style: "block1_conv1_W_1:0" -> "W"
        weight = _SUFFIX.sub("", weight_name)
        return (group_name,), weight[len(group_name) + 1:] if weight.startswith(
            group_name + "_") else weight
    scope = parts[:-1] if parts[0] == group_name else [group_name] + parts[:-1]
    return tuple(scope), _SUFFIX.sub("", parts[-1])


def read_legacy(root):
    """``{key: [(weight name, array)]}`` of a legacy layout's layers that have weights."""
    names = attr_list(root, "layer_names")
    if not names:
        raise InvalidKerasConfigurationException(
            f"{root.file.filename}: no 'layer_names' attribute: not a Keras weight file "
            f"(found {sorted(root.keys())[:6]})")
    layers = collections.OrderedDict()
    for name in names:
        group = root[name]
        for weight_name in attr_list(group, "weight_names"):
            key, weight = _legacy_key(name, weight_name)
            layers.setdefault(key, []).append((weight, np.asarray(group[weight_name])))
    return layers


def read_keras3(f, path, model_config):
    """``{key: [(None, array)]}`` of a ``model.weights.h5``'s layers that have weights;
    ``model_config`` names the groups of files without the layer names (Keras < 3.6)."""
    if "layers" not in f:
        raise InvalidKerasConfigurationException(
            f"{path}: model.weights.h5 has no 'layers' group (found {sorted(f.keys())})")
    layers = collections.OrderedDict()
    _read_keras3_layers(f["layers"], (), layers, path, model_config)
    return layers


def snake_case(class_name):
    """Keras' ``to_snake_case``: "DepthwiseConv2D" -> "depthwise_conv2d", "ReLU" -> "re_lu"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_group_names(model):
    """{weights group name: layer entry} of one model level, as Keras numbers the groups: the
    snake-cased class with a counter, over ``model.layers`` (a Sequential's has no InputLayer)."""
    config = model.get("config")
    entries = config.get("layers", []) if isinstance(config, dict) else config or []
    groups, counts = {}, collections.Counter()
    for entry in entries:
        if entry.get("class_name") == "InputLayer" and model.get("class_name") == "Sequential":
            continue
        snake = snake_case(entry.get("class_name", ""))
        groups[snake if counts[snake] == 0 else f"{snake}_{counts[snake]}"] = entry
        counts[snake] += 1
    return groups


def _group_name(layer, snake, entries, path):
    """The Keras layer name of weights group ``snake``: its ``name`` attribute (Keras >= 3.6),
    else the entry Keras numbered so (``keras3_group_names``)."""
    if "vars" in layer and "name" in layer["vars"].attrs:
        return text(layer["vars"].attrs["name"])
    if snake not in entries:
        raise InvalidKerasConfigurationException(
            f"{path}: weights group layers/{snake} matches no layer of the model config "
            f"(groups expected: {sorted(entries)[:6]})")
    entry = entries[snake]
    return entry.get("name") or entry.get("config", {}).get("name")


def _read_keras3_layers(group, scope, layers, path, model):
    entries = keras3_group_names(model)
    for snake in group:
        layer = group[snake]
        name = _group_name(layer, snake, entries, path)
        key = scope + (name,)
        arrays = layer["vars"] if "vars" in layer else {}
        if len(arrays):
            layers[key] = [(None, np.asarray(arrays[str(i)])) for i in range(len(arrays))]
        if "layers" in layer:  # a nested model
            nested = next((e for e in entries.values() if (e.get("name") or e.get(
                "config", {}).get("name")) == name), {})
            _read_keras3_layers(layer["layers"], key, layers, path, nested)


def read_keras_h5(path):
    """A legacy Keras weight (or full-model) file's layers with weights, in file order:
    ``OrderedDict`` name -> [arrays in Keras' layouts and order]; a nested model's layers are
    named "model/layer". Raises InvalidKerasConfigurationException naming a file that is not
    one, or is truncated."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as f:
            layers = read_legacy(legacy_root(f))
    except InvalidKerasConfigurationException:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise InvalidKerasConfigurationException(
            f"{path}: cannot read Keras HDF5 weights ({error}); the file may be truncated: "
            f"delete it and download it again") from error
    return collections.OrderedDict(("/".join(key), [array for _, array in weights])
                                   for key, weights in layers.items())
