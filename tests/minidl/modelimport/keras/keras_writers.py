"""Keras model files written by the tests themselves (h5py, json, zipfile; no Keras), in both
config dialects, and a NumPy evaluator of the same models in Keras' own NHWC layout: the
independent computation the imported networks are checked against.

A model is a ``Model`` of ``L`` layers: ``L(name, class_name, config, inputs, weights)`` with
``weights`` in Keras' order and layouts; a nested model is an ``L`` whose ``config`` is a
``Model``. ``write_h5`` (legacy full model), ``write_keras`` (Keras 3 zip) and
``write_json_and_weights`` write the files as reference/modern-cnns.md §3 describes them.
"""

import dataclasses
import io
import json
import re
import zipfile

h5py = __import__("pytest").importorskip("h5py")


@dataclasses.dataclass
class L:
    name: str
    cls: str
    config: object = dataclasses.field(default_factory=dict)
    inputs: list = dataclasses.field(default_factory=list)
    weights: list = dataclasses.field(default_factory=list)

    @property
    def is_model(self):
        return isinstance(self.config, Model)


@dataclasses.dataclass
class Model:
    kind: str  # "Sequential" or "Functional"
    name: str
    inputs: list  # [(name, shape without batch)]
    layers: list
    outputs: list = None  # names (Functional)


# -- configs in the two dialects ------------------------------------------------------------

def _tensor(name):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": "float32", "keras_history": [name, 0, 0]}}


def _input_entry(name, shape, dialect):
    key = "batch_shape" if dialect == 3 else "batch_input_shape"
    entry = {"class_name": "InputLayer", "config": {key: [None] + list(shape),
                                                    "dtype": "float32", "name": name}}
    return _k3(entry) if dialect == 3 else entry


def _k3(entry):
    return {"module": "keras.layers", **entry, "registered_name": None}


def _layer_entry(layer, dialect, functional):
    if layer.is_model:
        entry = model_config(layer.config, dialect)
    else:
        config = {"name": layer.name, "trainable": True, **layer.config}
        entry = {"class_name": layer.cls, "config": config}
        entry = _k3(entry) if dialect == 3 else entry
    if functional:
        entry["name"] = layer.name
        if dialect == 3:
            args = [_tensor(n) for n in layer.inputs]
            entry["inbound_nodes"] = [{"args": args if len(args) == 1 else [args],
                                       "kwargs": {}}]
        else:
            entry["inbound_nodes"] = [[[n, 0, 0, {}] for n in layer.inputs]]
    return entry


def _leaves(names, dialect):
    leaves = [[n, 0, 0] for n in names]
    return leaves[0] if dialect == 3 and len(leaves) == 1 else leaves


def model_config(model, dialect=3):
    """``{"class_name", "config"}`` of ``model`` as Keras ``dialect`` (2 or 3) writes it."""
    functional = model.kind == "Functional"
    entries = []
    for name, shape in model.inputs:
        entry = _input_entry(name, shape, dialect)
        if functional:
            entry.update(name=name, inbound_nodes=[])
        entries.append(entry)
    entries += [_layer_entry(layer, dialect, functional) for layer in model.layers]
    config = {"name": model.name, "trainable": True, "layers": entries}
    if functional:
        config["input_layers"] = _leaves([n for n, _ in model.inputs], dialect)
        config["output_layers"] = _leaves(model.outputs, dialect)
    out = {"class_name": "Functional" if functional and dialect == 3 else
           ("Model" if functional else "Sequential"), "config": config}
    if dialect == 3:
        out = {"module": "keras.src.models.functional" if functional else "keras",
               **out, "registered_name": out["class_name"]}
    return out


# -- weights ----------------------------------------------------------------------------------

_NAMES = {"Conv2D": ["kernel", "bias"], "Dense": ["kernel", "bias"],
          "DepthwiseConv2D": ["kernel", "bias"],
          "SeparableConv2D": ["depthwise_kernel", "pointwise_kernel", "bias"],
          "PReLU": ["alpha"]}


def weight_names(layer):
    """Keras' names of ``layer``'s weights (the order of ``layer.weights``)."""
    if layer.cls == "BatchNormalization":
        c = layer.config
        return ([n for n, on in (("gamma", c.get("scale", True)), ("beta", c.get("center", True)))
                 if on] + ["moving_mean", "moving_variance"])
    if layer.cls == "Normalization":
        return ["mean", "variance", "count"]
    names = _NAMES.get(layer.cls, [])
    return names if layer.config.get("use_bias", True) else names[:-1]


def _flat_weights(model, prefix=()):
    """[(path of names, weight name, array)] of every weight, nested models included."""
    out = []
    for layer in model.layers:
        if layer.is_model:
            out += _flat_weights(layer.config, prefix + (layer.name,))
        else:
            out += [(prefix + (layer.name,), n, w) for n, w in zip(weight_names(layer),
                                                                   layer.weights)]
    return out


def _write_legacy_layers(root, model, dialect):
    names = [n for n, _ in model.inputs] + [layer.name for layer in model.layers]
    root.attrs["layer_names"] = [n.encode() for n in names]
    root.attrs["backend"] = b"tensorflow"
    root.attrs["keras_version"] = b"2.13.1" if dialect == 2 else b"3.15.1"
    for name in names:
        group = root.create_group(name)
        layer = next((la for la in model.layers if la.name == name), None)
        entries = ([] if layer is None else _flat_weights(layer.config, (name,)) if layer.is_model
                   else [((name,), n, w) for n, w in zip(weight_names(layer), layer.weights)])
        weight_names_ = []
        for path, weight, array in entries:
            # Keras 3: "inner/c1/kernel" for a nested layer; Keras 2: "c1/kernel:0"
            full = "/".join(path + (weight,)) if dialect == 3 else "/".join(path[1:] or path) \
                + f"/{weight}:0"
            group.create_dataset(full, data=array)
            weight_names_.append(full.encode())
        group.attrs["weight_names"] = weight_names_


def write_h5(path, model, dialect=3, training_config=None):
    """A legacy full-model .h5 (``model.save("m.h5")``)."""
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(model_config(model, dialect)).encode()
        f.attrs["keras_version"] = b"2.13.1" if dialect == 2 else b"3.15.1"
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode()
        _write_legacy_layers(f.create_group("model_weights"), model, dialect)
    return path


def write_json_and_weights(json_path, weights_path, model, dialect=2):
    """``model.to_json()`` and a weights-only h5 (layers at the root)."""
    config = model_config(model, dialect)
    json_path.write_text(json.dumps({**config, "keras_version": "2.13.1"}), encoding="utf-8")
    with h5py.File(weights_path, "w") as f:
        _write_legacy_layers(f, model, dialect)
    return json_path, weights_path


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("2_d", "2d")


def _write_keras3_layers(group, model, functional_inputs, names=True):
    counts = {}
    entries = ([L(n, "InputLayer") for n, _ in model.inputs] if functional_inputs else []) + \
        model.layers
    for layer in entries:
        cls = "Functional" if layer.is_model and layer.config.kind == "Functional" else \
            ("Sequential" if layer.is_model else layer.cls)
        snake = _snake(cls)
        index = counts.get(snake, 0)
        counts[snake] = index + 1
        sub = group.create_group(snake if index == 0 else f"{snake}_{index}")
        variables = sub.create_group("vars")
        if names:  # Keras >= 3.6 names each group's layer
            variables.attrs["name"] = layer.name
        if layer.is_model:
            _write_keras3_layers(sub.create_group("layers"), layer.config,
                                 layer.config.kind == "Functional", names)
        else:
            for i, array in enumerate(layer.weights):
                variables.create_dataset(str(i), data=array)


def keras3_weights_bytes(model, names=True):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")
        _write_keras3_layers(f.create_group("layers"), model, model.kind == "Functional", names)
    return buffer.getvalue()


def write_keras(path, model, compile_config=None, names=True):
    """A Keras 3 .keras zip: metadata.json, config.json, model.weights.h5 (stored); without
    ``names`` as Keras < 3.6 wrote it (weights groups named only by class and counter)."""
    config = model_config(model, 3)
    if compile_config is not None:
        config["compile_config"] = compile_config
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", keras3_weights_bytes(model, names))
    return path
