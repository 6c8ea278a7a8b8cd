"""A decoded Keras file (``files.KerasFile``) -> a minidl ComputationGraph or MultiLayerNetwork.

``plan`` walks the flattened model (``config.flatten_model``) once: each Keras layer becomes its
steps (``layers.convert``) with its weights converted, and the input type of every vertex is
inferred on the way (converters need it: a Flatten's map size, a Concatenate's rank). The plan
is then assembled into a graph (every step a vertex, named as in Keras) or, for a Sequential
model, a stack (reshapes become the next layer's input preprocessor, as DL4J's import does).
"""

import copy
import dataclasses
import warnings

from minidl.modelimport.keras import activations, layers, training
from minidl.modelimport.keras.config import flatten_model
from minidl.modelimport.keras.errors import (InvalidKerasConfigurationException,
                                             KerasImportError,
                                             UnsupportedKerasConfigurationException)
from minidl.modelimport.keras.kernels import chw_rows_from_hwc
from minidl.nn.conf import InputType, NeuralNetConfiguration
from minidl.nn.conf.preprocessors import InputPreProcessor, preprocessor_between
from minidl.nn.conf.vertices import GraphVertex, PreprocessorVertex
from minidl.nn.graph import ComputationGraph
from minidl.nn.layers import Layer
from minidl.nn.multilayer import MultiLayerNetwork

# layers that act on each feature alone: a Keras-ordered flat vector stays Keras-ordered
_PER_FEATURE = ("Dropout", "Activation", "ReLU", "LeakyReLU", "ELU")


@dataclasses.dataclass
class Import:
    """What every converter needs: the file (for errors), the Keras major version."""

    path: str
    keras_major: int

    def where(self, layer):
        return f"{self.path}: layer {layer.name!r} ({layer.class_name})"

    def unsupported(self, layer, what):
        raise UnsupportedKerasConfigurationException(f"{self.where(layer)}: {what} is not "
                                                     f"supported")

    def activation(self, name, layer):
        return activations.activation(name, self.keras_major, self.where(layer))


@dataclasses.dataclass
class Step:
    """One vertex of the plan: name, the layer/vertex/preprocessor, what it reads, params."""

    name: str
    obj: object
    inputs: list
    params: dict = None


@dataclasses.dataclass
class Plan:
    kind: str
    inputs: list  # names
    input_types: list
    steps: list
    outputs: list
    keras_layers: list  # the flattened Keras layers, for the training-config checks


def input_type(layer, path):
    """The InputType of a Keras InputLayer: (None, h, w, c) -> convolutional, (None, n) ->
    feed-forward."""
    c = layer.config
    shape = c.get("batch_shape") or c.get("batch_input_shape")
    if shape is None and c.get("input_shape") is not None:
        shape = [None] + list(c["input_shape"])
    dims = list(shape or [])[1:]
    if not dims or any(d is None for d in dims) or len(dims) not in (1, 3):
        raise UnsupportedKerasConfigurationException(
            f"{path}: input {layer.name!r} has shape {shape}; minidl imports fixed-size inputs "
            f"(batch, n) or (batch, height, width, channels): build the Keras model with an "
            f"input_shape")
    return InputType.feed_forward(dims[0]) if len(dims) == 1 else InputType.convolutional(*dims)


def _output_type(obj, in_types):
    if isinstance(obj, InputPreProcessor):
        return obj.output_type(in_types[0])
    if isinstance(obj, GraphVertex):
        return obj.output_type(in_types)
    layer, t = copy.deepcopy(obj), in_types[0]
    if layer.input_kind != "any":
        auto = preprocessor_between(t, layer.input_kind == "convolutional")
        t = auto.output_type(t) if auto is not None else t
    return layer.output_type(t)


def layer_weights(flat, kfile):
    """{vertex name: {weight name: array}} for every layer of ``flat``, checked against the
    file: every weight a layer needs is there and nothing is left over."""
    found, result = dict(kfile.weights), {}
    for layer in flat.layers:
        layers.require_supported(layer, kfile.path)  # before its weights: the clearer error
        names = layers.weight_names(layer)
        given = found.pop(layer.key, [])
        if len(given) != len(names) and names:
            raise InvalidKerasConfigurationException(
                f"{kfile.path}: layer {layer.name!r} ({layer.class_name}) needs weights {names}, "
                f"the file has {len(given)} for it"
                + (f" ({[n for n, _ in given]})" if given and given[0][0] else ""))
        arrays = {}
        for position, (name, array) in enumerate(given):
            key = layers.canonical_weight_name(layer, name) if name else names[position]
            arrays[key] = array
        if set(arrays) != set(names):
            raise InvalidKerasConfigurationException(
                f"{kfile.path}: layer {layer.name!r} ({layer.class_name}) needs weights {names}, "
                f"the file has {sorted(arrays)}")
        result[layer.name] = arrays
    if found:
        extra = ["/".join(key) for key in found]
        raise InvalidKerasConfigurationException(
            f"{kfile.path}: found weights for layers not in the model: {extra[:4]}")
    return result


def _hwc_reader(layer, mapped, hwc, path):
    """Carry a Keras-ordered flatten through ``layer`` (see ``kernels.chw_rows_from_hwc``)."""
    source = [hwc[i] for i in layer.inputs if i in hwc]
    if not source:
        return None
    if layer.class_name in _PER_FEATURE:
        return source[0]
    if layer.class_name == "Dense":
        mapped.params["W"] = chw_rows_from_hwc(mapped.params["W"], *source[0])
        return None
    raise UnsupportedKerasConfigurationException(
        f"{path}: layer {layer.name!r} ({layer.class_name}) reads a Flatten of a feature map, "
        f"whose (h, w, c) order minidl reorders only for a Dense (through Dropout or "
        f"activations)")


def plan(kfile):
    """The ``Plan`` of a Keras file (see the module docstring)."""
    flat = flatten_model(kfile.model_config, kfile.path)
    ctx = Import(kfile.path, kfile.keras_major)
    weights = layer_weights(flat, kfile)
    types = {i.name: input_type(i, kfile.path) for i in flat.inputs}
    steps, hwc = [], {}
    for layer in flat.layers:
        try:
            mapped = layers.convert(layer, [types[i] for i in layer.inputs], weights[layer.name],
                                    ctx)
            carried = _hwc_reader(layer, mapped, hwc, kfile.path)
        except KerasImportError:
            raise
        except ValueError as error:  # weights of the wrong rank or size
            raise InvalidKerasConfigurationException(f"{ctx.where(layer)}: {error}") from None
        inputs = layer.inputs
        for name, obj in mapped.steps:
            if isinstance(obj, Layer):
                obj.name = name
            last = name == layer.name
            steps.append(Step(name, obj, inputs, mapped.params if last else None))
            types[name] = _output_type(obj, [types[i] for i in inputs])
            inputs = [name]
        if mapped.hwc or carried:
            hwc[layer.name] = mapped.hwc or carried
    for name in flat.outputs:
        if name in hwc:
            raise UnsupportedKerasConfigurationException(
                f"{kfile.path}: output {name!r} is a Flatten of a feature map in Keras' (h, w, "
                f"c) order, which minidl's (c, h, w) flatten does not reproduce")
    return Plan(flat.kind, [i.name for i in flat.inputs], [types[i.name] for i in flat.inputs],
                steps, flat.outputs, flat.layers)


# -- training configuration ---------------------------------------------------------------

def apply_training_config(the_plan, kfile, enforce):
    """With ``enforce`` and a training config: each output's loss layer and the updater (the
    returned defaults); else the plan as it is (DL4J's rule: the last layer stays a Dense)."""
    builder = NeuralNetConfiguration.Builder()
    training.check_regularizers(the_plan.keras_layers, kfile.path, enforce)
    if not enforce or kfile.training_config is None:
        if enforce:
            warnings.warn(f"{kfile.path}: enforce_training_config, but the file has no training "
                          f"config (the model was never compiled): the last layer stays as it is",
                          stacklevel=3)
        return builder
    losses = training.losses(kfile.training_config, the_plan.outputs, kfile.path)
    by_name = {step.name: step for step in the_plan.steps}
    for name, loss in losses.items():
        step = by_name[name]
        step.obj = training.output_layer(step.obj, loss, kfile.path, name)
    updater = training.updater(kfile.training_config, kfile.path)
    return builder.updater(updater) if updater is not None else builder


# -- assembly -----------------------------------------------------------------------------

def _add_graph_step(builder, step):
    obj = step.obj
    if isinstance(obj, InputPreProcessor):
        builder.add_vertex(step.name, PreprocessorVertex(obj), *step.inputs)
    elif isinstance(obj, GraphVertex):
        builder.add_vertex(step.name, obj, *step.inputs)
    else:
        builder.add_layer(step.name, obj, *step.inputs)


def _with_weights(network, tables, path):
    try:
        return network.init_from_tables(tables)
    except ValueError as error:
        raise InvalidKerasConfigurationException(f"{path}: the weights do not fit the model: "
                                                 f"{error}") from None


def graph(the_plan, defaults, path):
    """A ComputationGraph of the plan: every step a vertex under its name."""
    builder = defaults.graph_builder().add_inputs(*the_plan.inputs)
    for step in the_plan.steps:
        _add_graph_step(builder, step)
    conf = (builder.set_outputs(*the_plan.outputs).set_input_types(*the_plan.input_types)
            .build())
    tables = {s.name: s.params for s in the_plan.steps if s.params}
    return _with_weights(ComputationGraph(conf), tables, path)


def stack(the_plan, defaults, path):
    """A MultiLayerNetwork of a Sequential plan: the layers in order, each reshape step the
    input preprocessor of the layer after it."""
    builder, pending, tables, index = defaults.list(), None, {}, 0
    for step in the_plan.steps:
        if isinstance(step.obj, InputPreProcessor):
            pending = _only_one(pending, step, path)
            continue
        if isinstance(step.obj, GraphVertex):
            raise UnsupportedKerasConfigurationException(
                f"{path}: {step.name!r} ({type(step.obj).__name__}) is no layer of a stack")
        if pending is not None:
            builder.input_pre_processor(index, pending.obj)
            pending = None
        builder.layer(step.obj)
        if step.params:
            tables[str(index)] = step.params
        index += 1
    if pending is not None:
        raise UnsupportedKerasConfigurationException(
            f"{path}: the model ends in the reshape {pending.name!r}, which a MultiLayerNetwork "
            f"cannot end in; import it as a ComputationGraph (import_keras_model_and_weights)")
    conf = builder.set_input_type(the_plan.input_types[0]).build()
    return _with_weights(MultiLayerNetwork(conf), tables, path)


def _only_one(pending, step, path):
    if pending is not None:
        raise UnsupportedKerasConfigurationException(
            f"{path}: two reshapes in a row ({pending.name!r}, {step.name!r}) in a Sequential "
            f"model; import it as a ComputationGraph (import_keras_model_and_weights)")
    return step
