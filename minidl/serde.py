"""JSON for configurations: every configuration object becomes a dict tagged with its class.

``to_dict`` walks dataclasses, enums, lists and dicts; each dataclass is written as
``{"@class": "DenseLayer", ...fields}`` and each enum member as ``{"@enum": "Activation",
"name": "RELU"}``. ``from_dict`` reverses it by looking the tag up in a registry of the classes
that may appear in a configuration. The JSON is written with sorted keys, so two equal
configurations give equal strings, which is what DL4J's tests compare.

A field missing from the JSON takes its default, unless its metadata names a
``legacy_default``: the value that configurations written before the field existed meant
(DL4J's ``avgPoolIncludePadInDivisor`` is true for them, false for new layers).
"""

import dataclasses
import enum
import importlib
import json

import numpy as np

_REGISTRY = {}

# Modules whose dataclasses and enums may appear in a saved configuration.
_MODULES = ("minidl.nn.conf.enums", "minidl.nn.conf.weight_init", "minidl.nn.conf.layers",
            "minidl.nn.conf.vertices", "minidl.nn.conf.onnx_vertices",
            "minidl.nn.conf.preprocessors",
            "minidl.nn.conf.input_type", "minidl.nn.conf.configuration",
            "minidl.learning.updaters", "minidl.learning.regularization")
# Packages built on minidl (transfer, zoo) register their own classes with ``register``.


def register(cls):
    """Make ``cls`` (a dataclass or enum) known to ``from_dict``; usable as a decorator."""
    _REGISTRY[cls.__name__] = cls
    return cls


def _load_registry():
    for module_name in _MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module_name and (
                    dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)):
                _REGISTRY.setdefault(value.__name__, value)


def to_dict(obj):
    """A JSON-ready structure for a configuration value."""
    if isinstance(obj, enum.Enum):
        return {"@enum": type(obj).__name__, "name": obj.name}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"@class": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.metadata.get("transient"):
                continue
            out[f.name] = to_dict(getattr(obj, f.name))
        return out
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot serialise {type(obj).__name__} in a configuration: {obj!r}")


def from_dict(data):
    """The configuration value that ``to_dict`` turned into ``data``."""
    if isinstance(data, list):
        return [from_dict(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "@enum" in data:
        return _lookup(data["@enum"])[data["name"]]
    if "@class" in data:
        cls = _lookup(data["@class"])
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: _restore(fields[k], from_dict(v)) for k, v in data.items()
                  if k != "@class" and k in fields}
        for name, f in fields.items():
            if name not in values and "legacy_default" in f.metadata:
                values[name] = f.metadata["legacy_default"]
        unknown = set(data) - set(fields) - {"@class"}
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)} (configuration "
                             f"written by a different version?)")
        return cls(**values)
    return {k: from_dict(v) for k, v in data.items()}


def _restore(field, value):
    # JSON has no tuples: fields that hold pairs (kernel sizes, strides) come back as lists.
    if isinstance(value, list) and isinstance(field.default, tuple):
        return tuple(value)
    return value


def _lookup(name):
    if name not in _REGISTRY:
        _load_registry()
    if name not in _REGISTRY:
        raise ValueError(f"unknown configuration class {name!r} in JSON")
    return _REGISTRY[name]


def to_json(obj):
    """``obj`` (a configuration, layer, enum, ...) as indented JSON with sorted keys."""
    return json.dumps(to_dict(obj), indent=2, sort_keys=True)


def from_json(text):
    """The object ``to_json`` wrote."""
    return from_dict(json.loads(text))


class JsonConfig:
    """Mixin for configuration classes: ``to_dict``/``from_dict`` and ``to_json``/``from_json``.

    ``from_dict`` and ``from_json`` are class methods that check the result is of the class they
    were called on, so ``Adam.from_json(text_of_an_sgd)`` fails clearly.
    """

    def to_dict(self):
        return to_dict(self)

    def to_json(self):
        return to_json(self)

    @classmethod
    def from_dict(cls, data):
        return _checked(cls, from_dict(data))

    @classmethod
    def from_json(cls, text):
        return _checked(cls, from_json(text))


def _checked(cls, obj):
    if not isinstance(obj, cls):
        raise ValueError(f"the configuration holds a {type(obj).__name__}, not a {cls.__name__}")
    return obj
