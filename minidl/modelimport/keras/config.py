"""A Keras model configuration (both dialects, nested models) -> one flat list of layers.

Keras 2 and Keras 3 write the same model differently (reference/modern-cnns.md §3.4): a
Functional layer's ``inbound_nodes`` are lists of ``[layer, node, tensor, kwargs]`` in Keras 2
and ``{"args": [...], "kwargs": {...}}`` dicts holding ``__keras_tensor__`` entries in Keras 3;
``output_layers`` is always a list of leaves in Keras 2, a bare leaf for one output in Keras 3.
``flatten_model`` reads both into a ``FlatModel``: the graph's inputs, its layers in order, each
with the names of the layers it reads, and its outputs.

A nested model (a Keras application used as one layer, a Sequential inside a Functional model)
is spliced in: its InputLayer becomes the tensor the outer model feeds it, and the outer layers
that read it read its output layer instead. Names stay Keras' own; one that occurs twice in the
whole model (two nested models with a ``dense`` each) gets its models' path in front, as
"inner/dense". Each layer also keeps its ``key``, the path of names Keras' weight files use.

``check_untrusted`` runs first and refuses, by name, everything that would run code: a
``Lambda`` (its function is marshalled bytecode), a ``module`` outside Keras, a registered
custom object. Nothing in the file is ever unmarshalled, imported or evaluated.
"""

import collections
import dataclasses

from minidl.modelimport.keras.errors import (InvalidKerasConfigurationException,
                                             UnsupportedKerasConfigurationException)

MODEL_CLASSES = ("Sequential", "Functional", "Model")
INPUT_CLASS = "InputLayer"


@dataclasses.dataclass
class KerasLayer:
    """One Keras layer of the flattened model: ``name`` (unique vertex name), ``class_name``,
    ``config`` (Keras' dict), ``inputs`` (vertex names) and ``key`` (its weights' path)."""

    name: str
    class_name: str
    config: dict
    inputs: list
    key: tuple


@dataclasses.dataclass
class FlatModel:
    """``kind`` ("Sequential" or "Functional", of the top model), ``inputs`` (InputLayers as
    KerasLayers), ``layers`` (in Keras' order, which is topological), ``outputs`` (names)."""

    kind: str
    inputs: list
    layers: list
    outputs: list


# -- untrusted content --------------------------------------------------------------------

def _is_keras_module(module):
    return module is None or module == "keras" or str(module).startswith("keras.")


def check_untrusted(node, path, layer="<model>"):
    """Raise UnsupportedKerasConfigurationException for a Lambda, a custom object or a
    foreign module anywhere in the configuration ``node``; reads names only."""
    if isinstance(node, list):
        for item in node:
            check_untrusted(item, path, layer)
        return
    if not isinstance(node, dict):
        return
    class_name = node.get("class_name")
    if isinstance(class_name, str) and "config" in node:
        layer = _name_of(node, layer)
        registered = node.get("registered_name")
        if class_name == "Lambda":
            _refuse(path, layer, "a Lambda layer, whose function is Python bytecode marshalled "
                    "into the file: minidl never runs code from a model file")
        if not _is_keras_module(node.get("module")):
            _refuse(path, layer, f"{class_name} from module {node['module']!r}, not Keras'")
        if registered is not None and registered != class_name:
            _refuse(path, layer, f"the custom object {registered!r} ({class_name})")
    for value in node.values():
        check_untrusted(value, path, layer)


def _name_of(node, default):
    config = node.get("config")
    name = node.get("name") or (config.get("name") if isinstance(config, dict) else None)
    return name if isinstance(name, str) else default


def _refuse(path, layer, what):
    raise UnsupportedKerasConfigurationException(
        f"{path}: layer {layer!r} is {what}; refused without loading or running anything "
        f"(custom objects and Lambda layers cannot be imported)")


# -- inbound nodes, both dialects ---------------------------------------------------------

def _keras3_tensors(value):
    """(layer, node, tensor) of every ``__keras_tensor__`` in a Keras 3 call's args."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, tensor = value["config"]["keras_history"]
            yield layer, node, tensor
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _keras3_tensors(item)


def _inbound(entry, path, name):
    """[(layer, node, tensor)] that the Functional layer ``entry`` reads."""
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise UnsupportedKerasConfigurationException(
            f"{path}: layer {name!r} is shared (called {len(nodes)} times); minidl imports "
            f"layers called once")
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3
        return list(_keras3_tensors(node.get("args", [])))
    refs = []
    for tensor in node:  # Keras 2: [layer, node, tensor, kwargs]
        if tensor[0] == "_CONSTANT_VALUE":
            raise UnsupportedKerasConfigurationException(
                f"{path}: layer {name!r} is called with a constant; not supported")
        refs.append((tensor[0], tensor[1], tensor[2]))
    return refs


def leaves(spec):
    """``input_layers`` / ``output_layers`` -> [(layer, node, tensor)]: a 3-list whose first
    item is a string is one leaf (Keras 3 writes one output so), else a list or dict of them."""
    if isinstance(spec, dict):
        return [leaf for value in spec.values() for leaf in leaves(value)]
    if isinstance(spec, (list, tuple)):
        if len(spec) == 3 and isinstance(spec[0], str):
            return [tuple(spec)]
        return [leaf for item in spec for leaf in leaves(item)]
    raise InvalidKerasConfigurationException(f"not a layer reference: {spec!r}")


# -- flattening ---------------------------------------------------------------------------

def _layer_list(model):
    config = model.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config  # Keras <= 2.1: a list
    if not isinstance(layers, list):
        raise InvalidKerasConfigurationException(
            f"model {model.get('class_name')!r}: its config has no list of layers")
    return layers


def _entry_name(entry):
    return entry.get("name") or entry.get("config", {}).get("name")


def _count_names(model, counts):
    for entry in _layer_list(model):
        counts[_entry_name(entry)] += 1
        if entry.get("class_name") in MODEL_CLASSES:
            counts[_entry_name(entry)] -= 1  # a nested model is no vertex of its own
            _count_names(entry, counts)


class _Flattener:
    """Walks a model and its nested models, collecting KerasLayers (see the module docstring)."""

    def __init__(self, path, counts):
        self.path, self.counts = path, counts
        self.inputs, self.layers = [], []

    def vertex_name(self, scope, name):
        return name if not scope or self.counts[name] <= 1 else "/".join(scope + (name,))

    def model(self, model, scope, feeds):
        """Add ``model``'s layers; ``feeds`` = the vertex names its inputs are (None at the
        top). Returns the vertex names of its outputs."""
        if model.get("class_name") == "Sequential":
            return self.sequential(model, scope, feeds)
        return self.functional(model, scope, feeds)

    def add(self, entry, scope, inputs):
        name = _entry_name(entry)
        layer = KerasLayer(self.vertex_name(scope, name), entry["class_name"],
                           entry.get("config", {}), inputs, scope + (name,))
        (self.inputs if layer.class_name == INPUT_CLASS else self.layers).append(layer)
        return layer.name

    def sequential(self, model, scope, feeds):
        current = feeds[0] if feeds else None
        for entry in _layer_list(model):
            cls, config = entry["class_name"], entry.get("config", {})
            if cls == INPUT_CLASS:
                current = current or self.add(entry, scope, [])
                continue
            if current is None:  # old Keras: the first layer carries the input shape
                shape = config.get("batch_input_shape") or config.get("batch_shape")
                current = self.add({"class_name": INPUT_CLASS, "config": {
                    "batch_shape": shape, "name": f"{config.get('name')}_input"}}, scope, [])
            if cls in MODEL_CLASSES:
                current = self.model(entry, scope + (_entry_name(entry),), [current])[0]
            else:
                current = self.add(entry, scope, [current])
        return [current]

    def functional(self, model, scope, feeds):
        config = model["config"]
        input_names = [leaf[0] for leaf in leaves(config.get("input_layers", []))]
        if feeds is not None and len(feeds) != len(input_names):
            raise InvalidKerasConfigurationException(
                f"{self.path}: nested model {config.get('name')!r} has inputs {input_names} "
                f"but is called with {len(feeds)} tensors")
        outputs = {}  # Keras layer name -> its output vertex names (one per output tensor)
        for entry in _layer_list(model):
            name, cls = _entry_name(entry), entry["class_name"]
            inputs = [self._resolve(outputs, ref, name) for ref in _inbound(entry, self.path,
                                                                            name)]
            if cls == INPUT_CLASS:
                outputs[name] = ([feeds[input_names.index(name)]] if feeds is not None
                                 else [self.add(entry, scope, [])])
            elif cls in MODEL_CLASSES:
                outputs[name] = self.model(entry, scope + (name,), inputs)
            else:
                outputs[name] = [self.add(entry, scope, inputs)]
        return [self._resolve(outputs, ref, config.get("name"))
                for ref in leaves(config.get("output_layers", []))]

    def _resolve(self, outputs, ref, reader):
        layer, _, tensor = ref
        if layer not in outputs:
            raise InvalidKerasConfigurationException(
                f"{self.path}: layer {reader!r} reads {layer!r}, which no earlier layer is")
        if tensor >= len(outputs[layer]):
            raise InvalidKerasConfigurationException(
                f"{self.path}: layer {reader!r} reads output {tensor} of {layer!r}, which has "
                f"{len(outputs[layer])}")
        return outputs[layer][tensor]


def flatten_model(model, path):
    """The ``FlatModel`` of a Keras model configuration (``{"class_name", "config"}``)."""
    kind = model.get("class_name")
    if kind not in MODEL_CLASSES:
        raise InvalidKerasConfigurationException(
            f"{path}: expected a Keras model (class_name Sequential, Functional or Model), "
            f"found class_name {kind!r}")
    check_untrusted(model, path)
    counts = collections.Counter()
    _count_names(model, counts)
    flattener = _Flattener(path, counts)
    outputs = flattener.model(model, (), None)
    if not flattener.inputs:
        raise InvalidKerasConfigurationException(f"{path}: the model has no input layer")
    return FlatModel("Sequential" if kind == "Sequential" else "Functional", flattener.inputs,
                     flattener.layers, outputs)
