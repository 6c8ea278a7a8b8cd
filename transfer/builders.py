"""TransferLearning.Builder and TransferLearning.GraphBuilder: edit a trained network into a new one.

Both builders follow the same recipe, DL4J's:

1. copy the original configuration and apply the FineTuneConfiguration to every original layer;
2. record the edits (new nOut/nIn, removed and added layers or vertices, outputs);
3. ``build()``: make the new configuration, initialise a new network from it (edited and added
   layers get fresh parameters from their weight init), copy every *kept* layer's parameters
   from the original (copies: the original is never changed), and wrap the feature extractor
   in FrozenLayer (graph: the named vertices and all their ancestors; multi-layer: layers 0..k).

Where DL4J fails silently or obscurely (unknown vertex names ignored, out-of-range indices, a
NullPointerException without a fine-tune configuration) these builders raise a clear error or use
an empty configuration; see docs/differences-from-dl4j.md.
"""

import copy

from minidl.naming import Dl4jNames
from minidl.nn.conf.configuration import GraphBuilder as ConfGraphBuilder
from minidl.nn.conf.configuration import MultiLayerConfiguration
from minidl.nn.conf.layers import FrozenLayer, Layer, unwrap
from minidl.nn.conf.preprocessors import InputPreProcessor
from minidl.nn.conf.settings import layer_setting_names
from minidl.nn.conf.vertices import FrozenVertex
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork
from transfer.fine_tune import FineTuneConfiguration

# Fields that DL4J's resetLayerDefaultConfig() clears on a layer whose nOut/nIn is replaced in a
# graph: every layer setting but the activation. They are refilled from the fine-tune
# configuration, then from DL4J's defaults.
_RESET_FIELDS = tuple(name for name in layer_setting_names() if name != "activation")


def _editable(original, network_class, builder, other_builder):
    """``original`` after checking it is an initialised ``network_class`` for this builder."""
    if not isinstance(original, network_class):
        raise TypeError(f"TransferLearning.{builder} takes a {network_class.__name__}, got "
                        f"{type(original).__name__}; use TransferLearning.{other_builder} for "
                        f"the other kind of network")
    original._require_init()
    return original


def _weight_init(scheme):
    """A WeightInit or a Distribution, as DL4J's nOutReplace overloads accept."""
    from minidl.nn.conf.weight_init import WeightInit
    if scheme == WeightInit.DISTRIBUTION:
        raise ValueError("WeightInit.DISTRIBUTION needs the distribution itself: pass e.g. "
                         "NormalDistribution(0, 0.01) instead")
    return scheme


def _copy_kept_params(new_net, original, kept_keys):
    """Copy parameters of ``kept_keys`` (new key -> original key) from ``original`` into ``new_net``."""
    for new_key, old_key in kept_keys.items():
        new_table = new_net.param_tables[new_key]
        old_table = original.param_tables[old_key]
        for name, tensor in new_table.items():
            value = old_table[name].data
            if value.shape != tensor.data.shape:
                raise ValueError(f"layer {new_key!r}: parameter {name} of the original has shape "
                                 f"{tuple(value.shape)} but the edited layer needs "
                                 f"{tuple(tensor.data.shape)}; use n_out_replace / n_in_replace "
                                 f"to change sizes")
            tensor.data[...] = value


def _fresh_layer(layer, **changes):
    layer = copy.deepcopy(layer)
    for name, value in changes.items():
        setattr(layer, name, value)
    return layer


class Builder(Dl4jNames):
    """Edits a MultiLayerNetwork (``TransferLearning.Builder(net)``); see the module docstring."""

    def __init__(self, original):
        self._original = _editable(original, MultiLayerNetwork, "Builder", "GraphBuilder")
        self._ftc = None
        self._frozen_till = None
        self._n_out = {}
        self._n_in = {}
        self._n_removed = 0
        self._added = []
        self._preprocessors = {}

    def fine_tune_configuration(self, ftc):
        self._ftc = ftc
        return self

    def set_feature_extractor(self, layer_index):
        """Freeze layers 0..layer_index (inclusive) of the edited network."""
        self._frozen_till = int(layer_index)
        return self

    def n_out_replace(self, layer_index, n_out, scheme, scheme_next=None):
        """Change layer ``layer_index``'s nOut (re-initialised with ``scheme``) and, if the next
        layer is feed-forward, its nIn (re-initialised with ``scheme_next``, default ``scheme``)."""
        scheme_next = scheme if scheme_next is None else scheme_next
        self._n_out[int(layer_index)] = (int(n_out), _weight_init(scheme), _weight_init(scheme_next))
        return self

    def n_in_replace(self, layer_index, n_in, scheme):
        """Change one layer's nIn and re-initialise it; the layer before is not touched."""
        self._n_in[int(layer_index)] = (int(n_in), _weight_init(scheme))
        return self

    def remove_output_layer(self):
        """Drop the output layer (add a new one with ``add_layer``)."""
        self._n_removed = 1
        return self

    def remove_layers_from_output(self, n):
        """Drop the last ``n`` layers."""
        if self._n_removed:
            raise ValueError("remove_layers_from_output can only be called once (and not after "
                             "remove_output_layer)")
        self._n_removed = int(n)
        return self

    def add_layer(self, layer):
        self._added.append(layer)
        return self

    def set_input_pre_processor(self, layer_index, preprocessor):
        self._preprocessors[int(layer_index)] = preprocessor
        return self

    def validate_output_layer_config(self, validate):
        """Accepted for DL4J code; ignored (fit() refuses an output layer without a loss)."""
        return self

    # -- build -----------------------------------------------------------------------------
    def _ftc_or_empty(self):
        return self._ftc or FineTuneConfiguration(seed=self._original.conf.seed)

    def _check_index(self, index, what):
        n = len(self._original.conf.layers)
        if not 0 <= index < n:
            raise IndexError(f"{what}: invalid layer index {index}; the network has {n} layers "
                             f"(0..{n - 1})")

    def _edited_layers(self):
        """Fine-tuned copies of the original layers with nOut/nIn edits; which were re-sized."""
        ftc = self._ftc_or_empty()
        layers = [ftc.apply_to_layer(copy.deepcopy(layer)) for layer in self._original.conf.layers]
        resized = set()
        for index in sorted(self._n_out):
            self._check_index(index, "n_out_replace")
            n_out, scheme, scheme_next = self._n_out[index]
            target = unwrap(layers[index])
            _require_feed_forward(target, "n_out_replace", index)
            target.n_out, target.weight_init = n_out, scheme
            resized.add(index)
            following = unwrap(layers[index + 1]) if index + 1 < len(layers) else None
            if following is not None and following.is_feed_forward:
                following.n_in, following.weight_init = n_out, scheme_next
                resized.add(index + 1)
        for index in sorted(self._n_in):
            self._check_index(index, "n_in_replace")
            n_in, scheme = self._n_in[index]
            target = unwrap(layers[index])
            _require_feed_forward(target, "n_in_replace", index)
            target.n_in, target.weight_init = n_in, scheme
            resized.add(index)
        return layers, resized

    def build(self):
        original = self._original
        layers, resized = self._edited_layers()
        kept = len(layers) - self._n_removed
        if kept < 0:
            raise ValueError(f"cannot remove {self._n_removed} layers from a network of {len(layers)}")
        layers = layers[:kept]
        # Unlike DL4J (which leaves one stale entry behind), drop the preprocessors of every
        # removed layer; type inference re-adds what the new layers need.
        preprocessors = {i: p for i, p in original.conf.input_preprocessors.items() if i < kept}
        defaults = self._ftc_or_empty().applied_defaults(original.conf.seed)
        for i, layer in enumerate(self._added, start=kept):
            added = copy.deepcopy(layer)
            if added.name is None:
                added.name = str(i)
            added.apply_defaults(defaults.layer_defaults())
            layers.append(added)
        preprocessors.update(self._preprocessors)
        if self._frozen_till is not None:
            self._check_frozen_till(len(layers))
            # Exactly layers 0..k are frozen: a restored network frozen further up (say, saved
            # from an earlier transfer) gets its layers above k back as trainable ones.
            layers = [_frozen(l) if i <= self._frozen_till else _thawed(l)
                      for i, l in enumerate(layers)]
        conf = MultiLayerConfiguration(
            layers, preprocessors, original.conf.input_type,
            self._ftc_or_empty().network_settings(original.conf.defaults))
        conf.infer_types()
        net = MultiLayerNetwork(conf).init().to(original.device)  # where the original is
        _copy_kept_params(net, original, {str(i): str(i) for i in range(kept) if i not in resized})
        return net

    def _check_frozen_till(self, n_layers):
        if not 0 <= self._frozen_till < n_layers:
            raise IndexError(f"set_feature_extractor({self._frozen_till}): the edited network has "
                             f"{n_layers} layers (0..{n_layers - 1})")


def _frozen(layer):
    return layer if layer.frozen else FrozenLayer(layer=layer, name=layer.name)


def _thawed(vertex):
    """``vertex`` without a FrozenLayer / FrozenVertex wrapper (FrozenLayerWithBackprop, a
    deliberate part of a design rather than a feature-extractor mark, stays)."""
    if isinstance(vertex, FrozenLayer):
        return vertex.layer
    return vertex.vertex if isinstance(vertex, FrozenVertex) else vertex


def _require_feed_forward(layer, what, where):
    if not unwrap(layer).is_feed_forward:
        raise ValueError(f"{what} can only be applied to feed-forward layers (with n_in/n_out); "
                         f"layer {where!r} is a {unwrap(layer).type_name}")


class GraphBuilder(Dl4jNames):
    """Edits a ComputationGraph (``TransferLearning.GraphBuilder(graph)``); see module docstring."""

    def __init__(self, original):
        self._original = _editable(original, ComputationGraph, "GraphBuilder", "Builder")
        self._edited = set()  # vertices whose parameters are freshly initialised
        self._n_in_from_n_out = {}  # vertex -> nIn set by an n_out_replace of its input
        self._frozen = []
        self._input_types_set = False
        self.fine_tune_configuration(FineTuneConfiguration(seed=original.conf.seed))

    def fine_tune_configuration(self, ftc):
        """Apply ``ftc`` to every original layer. Call it first: it restarts the edit (as DL4J)."""
        self._ftc = ftc
        conf = self._original.conf.clone()
        for name, vertex in conf.vertices.items():
            if isinstance(vertex, Layer):
                ftc.apply_to_layer(vertex)
        self._defaults = ftc.applied_defaults(self._original.conf.seed)
        self._builder = ConfGraphBuilder.from_configuration(conf, self._defaults)
        self._builder.configuration.defaults = ftc.network_settings(self._original.conf.defaults)
        self._builder.configuration.input_types = list(self._original.conf.input_types)
        return self

    # -- lookups with clear errors (DL4J ignores unknown names or throws an NPE) -------------
    def _conf(self):
        return self._builder.configuration

    def _require_vertex(self, name, what):
        conf = self._conf()
        if name not in conf.vertices:
            raise ValueError(f"{what}: no vertex named {name!r}; vertices: {list(conf.vertices)}")
        return conf.vertices[name]

    def _original_layer(self, name, what):
        vertex = self._original.conf.vertices.get(name)
        if vertex is None:
            raise ValueError(f"{what}: no vertex named {name!r} in the original graph; vertices: "
                             f"{list(self._original.conf.vertices)}")
        if not isinstance(vertex, Layer):
            raise ValueError(f"{what} can only be applied to layer vertices; {name!r} is a "
                             f"{type(vertex).__name__}")
        return unwrap(vertex)

    # -- edits -----------------------------------------------------------------------------
    def set_feature_extractor(self, *names):
        """Freeze these vertices and all their ancestors."""
        for name in names:
            if name not in self._conf().known_names():
                raise ValueError(f"set_feature_extractor: no vertex named {name!r}; vertices: "
                                 f"{self._conf().known_names()}")
        self._frozen.extend(names)
        return self

    def _replace(self, name, layer):
        """Swap in ``layer`` for vertex ``name``, keeping inputs, preprocessor and output role."""
        conf = self._conf()
        conf.vertices[name] = layer
        self._edited.add(name)

    def _reset(self, layer, **changes):
        """A copy with DL4J's resetLayerDefaultConfig applied, the changes, then defaults."""
        layer = _fresh_layer(layer, **{f: None for f in _RESET_FIELDS if hasattr(layer, f)})
        for key, value in changes.items():
            setattr(layer, key, value)
        layer.apply_defaults(self._defaults.layer_defaults())
        return layer

    def n_out_replace(self, name, n_out, scheme, scheme_next=None):
        """Change vertex ``name``'s nOut and the nIn of every feed-forward layer it feeds."""
        scheme, scheme_next = _weight_init(scheme), _weight_init(
            scheme if scheme_next is None else scheme_next)
        layer = self._original_layer(name, "n_out_replace")
        _require_feed_forward(layer, "n_out_replace", name)
        changes = {"n_out": int(n_out), "weight_init": scheme}
        if name in self._n_in_from_n_out:
            changes["n_in"] = self._n_in_from_n_out[name]
        self._replace(name, self._reset(layer, **changes))
        for consumer, inputs in self._original.conf.vertex_inputs.items():
            if name not in inputs:
                continue
            target = self._original.conf.vertices[consumer]
            if not isinstance(target, Layer):
                raise ValueError(f"cannot change nOut of {name!r}: it feeds the non-layer vertex "
                                 f"{consumer!r} ({type(target).__name__}); use "
                                 f"remove_vertex_keep_connections then add_vertex instead")
            if not unwrap(target).is_feed_forward:
                continue  # e.g. a pooling layer: its nIn is not a setting; use n_in_replace after
            current = self._conf().vertices.get(consumer, target)
            edited = copy.deepcopy(unwrap(current))
            edited.n_in, edited.weight_init = int(n_out), scheme_next
            self._ftc.apply_to_layer(edited)
            self._n_in_from_n_out[consumer] = int(n_out)
            self._replace(consumer, edited)
        return self

    def n_in_replace(self, name, n_in, scheme):
        """Change one layer's nIn and re-initialise it (an earlier n_out_replace's nIn wins)."""
        layer = self._original_layer(name, "n_in_replace")
        _require_feed_forward(layer, "n_in_replace", name)
        n_in = self._n_in_from_n_out.get(name, int(n_in))
        self._replace(name, self._reset(layer, n_in=n_in, weight_init=_weight_init(scheme)))
        return self

    def remove_vertex_keep_connections(self, name):
        """Remove ``name`` but keep references to it, so a same-named vertex can replace it."""
        self._require_vertex(name, "remove_vertex_keep_connections")
        self._builder.remove_vertex(name, remove_connections=False)
        return self

    def remove_vertex_and_connections(self, name):
        """Remove ``name`` and every reference to it (then call set_outputs)."""
        self._require_vertex(name, "remove_vertex_and_connections")
        self._builder.remove_vertex(name, remove_connections=True)
        return self

    def add_layer(self, name, layer, *inputs):
        preprocessor = None
        if inputs and isinstance(inputs[0], InputPreProcessor):
            preprocessor, inputs = inputs[0], inputs[1:]
        self._builder.add_layer(name, layer, *((preprocessor,) if preprocessor else ()), *inputs)
        self._edited.add(name)
        return self

    def add_vertex(self, name, vertex, *inputs):
        self._builder.add_vertex(name, vertex, *inputs)
        self._edited.add(name)
        return self

    def add_inputs(self, *names):
        self._builder.add_inputs(*names)
        return self

    def set_inputs(self, *names):
        self._builder.set_inputs(*names)
        return self

    def set_input_types(self, *types):
        if not self._input_types_set:
            self._conf().input_types = []  # explicit types replace the original's
            self._input_types_set = True
        self._builder.set_input_types(*types)
        return self

    def set_outputs(self, *names):
        """Replace the output list (newer DL4J semantics)."""
        self._builder.set_outputs(*names)
        return self

    def set_workspace_mode(self, mode):
        """Accepted for DL4J code; ignored (minidl has no workspaces: NumPy manages memory)."""
        return self

    def validate_output_layer_config(self, validate):
        """Accepted for DL4J code; ignored (fit() refuses an output layer without a loss)."""
        return self

    # -- build -----------------------------------------------------------------------------
    def build(self):
        conf = self._builder.build()
        self._freeze(conf)
        net = ComputationGraph(conf).init().to(self._original.device)  # where the original is
        kept = {name: name for name, _ in net.layer_items()
                if name not in self._edited and name in self._original.param_tables}
        _copy_kept_params(net, self._original, kept)
        return net

    def _freeze(self, conf):
        """Wrap the frozen vertices and all their ancestors (never descendants).

        With set_feature_extractor, those are exactly the frozen ones: vertices that were frozen
        already (a restored network saved from an earlier transfer) but lie outside the new
        feature extractor become trainable, so "freeze up to block4_pool" lets block 5 train.
        """
        if not self._frozen:
            return
        frozen = conf.ancestors(self._frozen)
        for name, vertex in conf.vertices.items():
            if name in frozen and not vertex.frozen:
                conf.vertices[name] = FrozenLayer(layer=vertex, name=name) \
                    if isinstance(vertex, Layer) else FrozenVertex(vertex=vertex)
            elif name not in frozen:
                conf.vertices[name] = _thawed(vertex)


class TransferLearning:
    """DL4J's entry point: ``TransferLearning.Builder(mln)`` and ``TransferLearning.GraphBuilder(cg)``."""

    Builder = Builder
    GraphBuilder = GraphBuilder
