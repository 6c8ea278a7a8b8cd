"""TransferLearning.Builder and TransferLearning.GraphBuilder: edit a trained network into a new one.

Both builders record the edits and make them all at ``build()``, in a fixed order, so the order
of the calls does not matter (DL4J's GraphBuilder throws away every edit made before
``fineTuneConfiguration``, its bug #8992):

1. copy the original configuration and apply the FineTuneConfiguration to every original layer;
2. resize: ``n_out_replace`` / ``n_in_replace`` (``_Resizes``, one piece of code for both
   builders: a multi-layer network is the chain in which layer i feeds layer i + 1);
3. restructure: remove and add layers (and vertices, inputs, outputs), in call order;
4. validate the output layers (``minidl.nn.conf.output_validation``), freeze exactly the feature
   extractor (``_as_frozen``), initialise a new network (edited and added layers get fresh
   parameters from their weight init) and copy every kept layer's parameters from the original
   (copies: the original is never changed).

A graph edit that names something unknown fails at the call that made it; a multi-layer index,
like DL4J's, is checked at ``build()``. Where DL4J fails silently or obscurely (unknown vertex
names ignored, out-of-range indices, a NullPointerException without a fine-tune configuration,
edits that are lost) these builders raise a clear error or use an empty configuration; see
docs/differences-from-dl4j.md.
"""

import copy
import warnings

from minidl.naming import Dl4jNames
from minidl.nn.conf.configuration import GraphBuilder as ConfGraphBuilder
from minidl.nn.conf.configuration import ComputationGraphConfiguration, MultiLayerConfiguration
from minidl.nn.conf.layers import FrozenLayer, Layer, unwrap
from minidl.nn.conf.output_validation import OutputLayerValidation, validate_output_layers
from minidl.nn.conf.settings import layer_setting_names
from minidl.nn.conf.vertices import FrozenVertex
from minidl.nn.freezing import frozen, thawed
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


def _weight_init(scheme, distribution=None):
    """What a resized layer is re-initialised with, from DL4J's overloads: a WeightInit or a
    Distribution; ``WeightInit.DISTRIBUTION`` plus the distribution (n_in_replace's four
    arguments). DL4J ignores a distribution given with another scheme; here that is an error."""
    from minidl.nn.conf.weight_init import WeightInit
    if scheme == WeightInit.DISTRIBUTION:
        if distribution is None:
            raise ValueError("WeightInit.DISTRIBUTION needs the distribution itself: pass e.g. "
                             "NormalDistribution(0, 0.01) instead")
        return distribution
    if distribution is not None:
        raise ValueError(f"a distribution ({distribution}) is only used with "
                         f"WeightInit.DISTRIBUTION, not with {scheme}; pass one or the other")
    return scheme


def _require_feed_forward(layer, what, where):
    if not unwrap(layer).is_feed_forward:
        raise ValueError(f"{what} can only be applied to feed-forward layers (with n_in/n_out); "
                         f"layer {where!r} is a {unwrap(layer).type_name}")


class _Resizes:
    """The ``n_out_replace`` / ``n_in_replace`` edits of a builder, made together by ``apply``.

    Keys are layer indices (multi-layer network) or vertex names (graph). The edits are made on
    the fine-tuned original layers in topological order, so the order of the calls does not
    matter: a layer first takes the n_in that an n_out_replace of its input gives it (with that
    edit's ``scheme_next``), then its own n_out_replace, then its own n_in_replace, each setting
    its weight init. As in DL4J a new nOut reaches every feed-forward layer the replaced one
    feeds; other layers (pooling) pass their input size on, so the next feed-forward layer
    needs an n_in_replace.
    """

    def __init__(self):
        self.n_out = {}  # key -> (n_out, scheme, scheme_next)
        self.n_in = {}  # key -> (n_in, scheme)

    def targets(self):
        return set(self.n_out) | set(self.n_in)

    def apply(self, layers, order, layers_fed_by, start):
        """{key: resized layer} for every layer these edits change.

        ``layers``: {key: fine-tuned original layer}; ``order``: their keys, each after its
        inputs; ``layers_fed_by(key)``: the keys of the layers it feeds; ``start(key)``: a fresh
        copy of the layer that an edit naming ``key`` starts from. Resized layers come
        unwrapped: their parameters are new, and set_feature_extractor decides what is frozen.
        """
        resized, n_in_source = {}, {}

        def edit(key, **changes):
            if key not in resized:
                base = start(key) if key in self.targets() else copy.deepcopy(layers[key])
                resized[key] = unwrap(base)
            for name, value in changes.items():
                setattr(resized[key], name, value)

        for key in (k for k in order if k in self.n_out):
            n_out, scheme, scheme_next = self.n_out[key]
            edit(key, n_out=n_out, weight_init=scheme)
            for consumer in layers_fed_by(key):
                if unwrap(layers[consumer]).is_feed_forward:
                    edit(consumer, n_in=n_out, weight_init=scheme_next)
                    n_in_source[consumer] = key
        for key in (k for k in order if k in self.n_in):
            n_in, scheme = self.n_in[key]
            self._check_agrees(key, n_in, n_in_source.get(key))
            edit(key, n_in=n_in, weight_init=scheme)
        return resized

    def _check_agrees(self, key, n_in, source):
        """DL4J lets n_in_replace override (multi-layer) or lose to (graph) the n_in that an
        n_out_replace of the layer's input sets: either way one edit is silently wrong."""
        if source is not None and self.n_out[source][0] != n_in:
            raise ValueError(f"n_in_replace({key!r}, {n_in}) contradicts "
                             f"n_out_replace({source!r}, {self.n_out[source][0]}), which feeds "
                             f"layer {key!r}: drop one of the two edits or make them agree")

    def require_kept(self, kept, removed_by):
        """Refuse edits of layers that a removal took out again (DL4J drops them silently)."""
        for what, edits in (("n_out_replace", self.n_out), ("n_in_replace", self.n_in)):
            for key in edits:
                if key not in kept:
                    raise ValueError(f"{what}({key!r}, ...): layer {key!r} is removed by "
                                     f"{removed_by}, so this edit would be lost; a layer added "
                                     f"in its place takes its sizes from its own settings")


def _as_frozen(vertex, is_frozen):
    """``vertex`` as part of the feature extractor (``is_frozen``) or outside it.

    Inside it gets a FrozenLayer / FrozenVertex wrapper; outside it loses one, so a network
    restored frozen further up (saved from an earlier transfer) trains again above the new
    boundary (``minidl.nn.freezing``: FrozenLayerWithBackprop, a deliberate part of a design
    rather than a feature-extractor mark, stays either way).
    """
    return frozen(vertex) if is_frozen else thawed(vertex)


def _warn_untrainable(vertices, inputs_of, outputs):
    """Warn about every trainable layer that no gradient can reach.

    FrozenLayer and FrozenVertex stop the gradient, so a trainable layer whose every path to an
    output passes one of them never trains (DL4J crashes there, its #9159). ``vertices``:
    {key: vertex}; ``inputs_of(key)``: the keys feeding it; ``outputs``: the output keys.
    """
    reached, stack = set(), list(outputs)
    while stack:
        key = stack.pop()
        if key in reached or key not in vertices:  # network inputs have no vertex
            continue
        reached.add(key)
        if not isinstance(vertices[key], (FrozenLayer, FrozenVertex)):
            stack.extend(inputs_of(key))
    for key, vertex in vertices.items():
        trainable = isinstance(vertex, Layer) and vertex.has_params and not vertex.frozen
        if trainable and key not in reached:
            warnings.warn(f"layer {vertex.describe()} is trainable, but every path from it to an "
                          f"output passes a frozen layer, which stops the gradient: it will "
                          f"never train. Freeze it too, or use FrozenLayerWithBackprop",
                          stacklevel=3)


class Builder(OutputLayerValidation, Dl4jNames):
    """Edits a MultiLayerNetwork (``TransferLearning.Builder(net)``); see the module docstring."""

    def __init__(self, original):
        self._original = _editable(original, MultiLayerNetwork, "Builder", "GraphBuilder")
        self._ftc = None
        self._frozen_till = None
        self._resizes = _Resizes()
        self._n_removed = 0
        self._added = []
        self._preprocessors = {}

    def fine_tune_configuration(self, ftc):
        """Impose ``ftc`` on every original layer (and use it as the added layers' defaults).
        May come anywhere in the chain: it is applied first at build()."""
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
        self._resizes.n_out[int(layer_index)] = (int(n_out), _weight_init(scheme),
                                                 _weight_init(scheme_next))
        return self

    def n_in_replace(self, layer_index, n_in, scheme, distribution=None):
        """Change one layer's nIn and re-initialise it with ``scheme`` (a WeightInit or a
        Distribution; or WeightInit.DISTRIBUTION and ``distribution``). The layer before is not
        touched."""
        self._resizes.n_in[int(layer_index)] = (int(n_in), _weight_init(scheme, distribution))
        return self

    def remove_output_layer(self):
        """Drop the output layer (add a new one with ``add_layer``)."""
        self._n_removed = 1
        return self

    def new_output_layer(self, make_layer, boundary, output=None):
        """DL4J's EditLastLayerOthersFrozen in one call: layers 0..``boundary`` frozen, the output
        layer replaced by ``make_layer(n_in)``, sized from what the old one read (the layers
        between the boundary and it stay, trainable). ``output`` is the graph builder's
        argument, unused here: a multi-layer network's output is its last layer."""
        layers = self._original.conf.layers
        reads = self._original.conf.infer_types()[-1]
        if reads is None or reads.kind != "feed_forward":
            raise ValueError(f"new_output_layer: the last layer {layers[-1].describe()} reads "
                             f"{reads}, not features a new OutputLayer can take")
        return (self.set_feature_extractor(int(boundary)).remove_output_layer()
                .add_layer(make_layer(reads.size)))

    def remove_layers_from_output(self, n):
        """Drop the last ``n`` layers."""
        if self._n_removed:
            raise ValueError("remove_layers_from_output can only be called once (and not after "
                             "remove_output_layer)")
        self._n_removed = int(n)
        return self

    def add_layer(self, layer):
        """Append ``layer`` on top (after the removals)."""
        self._added.append(copy.deepcopy(layer))
        return self

    def set_input_pre_processor(self, layer_index, preprocessor):
        """Put ``preprocessor`` in front of layer ``layer_index``."""
        self._preprocessors[int(layer_index)] = preprocessor
        return self

    # -- build -----------------------------------------------------------------------------
    def _ftc_or_empty(self):
        return self._ftc or FineTuneConfiguration(seed=self._original.conf.seed)

    def _check_index(self, index, what):
        n = len(self._original.conf.layers)
        if not 0 <= index < n:
            raise IndexError(f"{what}: invalid layer index {index}; the network has {n} layers "
                             f"(0..{n - 1})")

    def _edited_layers(self, ftc):
        """The fine-tuned original layers with the nOut/nIn edits; the indices re-sized."""
        layers = [ftc.apply_to_layer(copy.deepcopy(layer)) for layer in self._original.conf.layers]
        for what, edits in (("n_out_replace", self._resizes.n_out),
                            ("n_in_replace", self._resizes.n_in)):
            for index in sorted(edits):
                self._check_index(index, what)
                _require_feed_forward(layers[index], what, index)
        chain = dict(enumerate(layers))  # layer i feeds layer i + 1, and only it
        resized = self._resizes.apply(chain, range(len(layers)),
                                      lambda i: [i + 1] if i + 1 in chain else [],
                                      lambda i: copy.deepcopy(chain[i]))
        return [resized.get(i, layer) for i, layer in enumerate(layers)], set(resized)

    def _added_layers(self, ftc, start):
        """The added layers, named by index where unnamed, with the fine-tune configuration
        filling what they leave unset."""
        defaults = ftc.applied_defaults(self._original.conf.seed).layer_defaults()
        added = copy.deepcopy(self._added)
        for i, layer in enumerate(added, start=start):
            layer.name = str(i) if layer.name is None else layer.name
            layer.apply_defaults(defaults)
        return added

    def build(self):
        """The new MultiLayerNetwork (the original is not changed)."""
        original, ftc = self._original, self._ftc_or_empty()
        layers, resized = self._edited_layers(ftc)
        kept = len(layers) - self._n_removed
        if kept < 0:
            raise ValueError(f"cannot remove {self._n_removed} layers from a network of {len(layers)}")
        self._resizes.require_kept(range(kept), "remove_output_layer / remove_layers_from_output")
        layers = layers[:kept] + self._added_layers(ftc, kept)
        # Unlike DL4J (which leaves one stale entry behind), drop the preprocessors of every
        # removed layer; type inference re-adds what the new layers need.
        preprocessors = {i: p for i, p in original.conf.input_preprocessors.items() if i < kept}
        preprocessors.update(self._preprocessors)
        if self._frozen_till is not None:
            self._check_frozen_till(len(layers))
            layers = [_as_frozen(layer, i <= self._frozen_till)
                      for i, layer in enumerate(layers)]
        conf = MultiLayerConfiguration(layers, preprocessors, original.conf.input_type,
                                       ftc.network_settings(original.conf.defaults))
        conf.infer_types()
        validate_output_layers(conf.layers, self._validate_output)
        _warn_untrainable(dict(enumerate(conf.layers)), lambda i: [i - 1] if i else [],
                          [len(conf.layers) - 1])
        net = MultiLayerNetwork(conf).init().to(original.device)  # where the original is
        net.copy_params_from(original, {str(i): str(i) for i in range(kept) if i not in resized})
        return net

    def _check_frozen_till(self, n_layers):
        if not 0 <= self._frozen_till < n_layers:
            raise IndexError(f"set_feature_extractor({self._frozen_till}): the edited network has "
                             f"{n_layers} layers (0..{n_layers - 1})")


class _GraphEdit:
    """A graph configuration under structural edit: removals and additions of vertices, inputs,
    outputs and input types, made on a configuration GraphBuilder. It remembers which vertices
    are new (their parameters will be fresh)."""

    def __init__(self, conf, defaults, network_settings, input_types):
        self.builder = ConfGraphBuilder.from_configuration(conf, defaults)
        self.conf = self.builder.configuration
        self.conf.defaults = network_settings
        self.conf.input_types = list(input_types)  # DL4J drops them; a kept input keeps its type
        self.added, self._removed, self._types_given = set(), set(), False

    def remove_vertex(self, name, remove_connections):
        if name in self._removed and name not in self.conf.known_names():
            return  # DL4J code repeats a removal after fineTuneConfiguration (its #8992)
        self.builder.remove_vertex(name, remove_connections)
        self._removed.add(name)
        self.added.discard(name)

    def add_layer(self, name, layer, *inputs):
        self.builder.add_layer(name, layer, *inputs)
        self.added.add(name)

    def add_vertex(self, name, vertex, *inputs):
        self.builder.add_vertex(name, vertex, *inputs)
        self.added.add(name)

    def add_inputs(self, *names):
        self.builder.add_inputs(*names)

    def set_inputs(self, *names):
        self.builder.set_inputs(*names)

    def set_input_types(self, *types):
        if not self._types_given:
            self.conf.input_types = []  # explicit types replace the original's
            self._types_given = True
        self.builder.set_input_types(*types)

    def set_outputs(self, *names):
        self.builder.set_outputs(*names)


class GraphBuilder(OutputLayerValidation, Dl4jNames):
    """Edits a ComputationGraph (``TransferLearning.GraphBuilder(graph)``); see module docstring."""

    def __init__(self, original):
        self._original = _editable(original, ComputationGraph, "GraphBuilder", "Builder")
        self._ftc = FineTuneConfiguration(seed=original.conf.seed)  # DL4J's initBuilderIfReq
        self._resizes = _Resizes()
        self._structure = []  # (_GraphEdit method, arguments) of each structural edit, in order
        self._frozen = []
        self._trial = self._edited_graph(self._fine_tuned())  # where each edit is tried at once

    def fine_tune_configuration(self, ftc):
        """Impose ``ftc`` on every original layer (and use it as the added layers' defaults).
        May come anywhere in the chain: the edits made before it are kept (DL4J discards them)."""
        self._ftc = ftc
        return self

    def _original_layer(self, name, what):
        vertex = self._original.conf.vertices.get(name)
        if vertex is None:
            raise ValueError(f"{what}: no vertex named {name!r} in the original graph; vertices: "
                             f"{list(self._original.conf.vertices)}")
        if not isinstance(vertex, Layer):
            raise ValueError(f"{what} can only be applied to layer vertices; {name!r} is a "
                             f"{type(vertex).__name__}")
        return unwrap(vertex)

    def _layers_fed_by(self, name):
        """The original layers that vertex ``name`` feeds (DL4J refuses other consumers)."""
        conf = self._original.conf
        consumers = [c for c, inputs in conf.vertex_inputs.items() if name in inputs]
        for consumer in consumers:
            vertex = conf.vertices[consumer]
            if not isinstance(vertex, Layer):
                raise ValueError(f"cannot change nOut of {name!r}: it feeds the non-layer vertex "
                                 f"{consumer!r} ({type(vertex).__name__}); use "
                                 f"remove_vertex_keep_connections then add_vertex instead")
        return consumers

    # -- edits -----------------------------------------------------------------------------
    def new_output_layer(self, make_layer, boundary, output="predictions"):
        """DL4J's EditLastLayerOthersFrozen in one call: ``boundary`` and its ancestors frozen,
        the vertex ``output`` replaced by ``make_layer(n_in)`` reading ``boundary``."""
        n_in = self._original.vertex_types()[boundary].size
        return (self.set_feature_extractor(boundary).remove_vertex_keep_connections(output)
                .add_layer(output, make_layer(n_in), boundary))

    def set_feature_extractor(self, *names):
        """Freeze these vertices and all their ancestors. The names are checked at build(), so
        they may name vertices added later in the chain."""
        self._frozen.extend(names)
        return self

    def n_out_replace(self, name, n_out, scheme, scheme_next=None):
        """Change vertex ``name``'s nOut and the nIn of every feed-forward layer it feeds.

        As DL4J's resetLayerDefaultConfig, the replaced layer keeps only its activation (and
        dropout) of its own training settings: the others come from the fine-tune
        configuration, then DL4J's defaults. The layers it feeds keep theirs."""
        scheme_next = scheme if scheme_next is None else scheme_next
        _require_feed_forward(self._original_layer(name, "n_out_replace"), "n_out_replace", name)
        self._layers_fed_by(name)  # fail now if it feeds a vertex that has no nIn
        self._resizes.n_out[name] = (int(n_out), _weight_init(scheme), _weight_init(scheme_next))
        return self

    def n_in_replace(self, name, n_in, scheme, distribution=None):
        """Change one layer's nIn and re-initialise it with ``scheme`` (a WeightInit or a
        Distribution; or WeightInit.DISTRIBUTION and ``distribution``); settings reset as for
        n_out_replace."""
        _require_feed_forward(self._original_layer(name, "n_in_replace"), "n_in_replace", name)
        self._resizes.n_in[name] = (int(n_in), _weight_init(scheme, distribution))
        return self

    def _edit(self, method, *args):
        args = copy.deepcopy(args)  # the configuration objects as they are now
        getattr(self._trial, method)(*args)  # a mistake fails here, at the call that made it
        self._structure.append((method, args))
        return self

    def remove_vertex_keep_connections(self, name):
        """Remove vertex or input ``name`` but keep references to it, so that a same-named
        vertex (or input, ``add_inputs``) can replace it."""
        return self._edit("remove_vertex", name, False)

    def remove_vertex_and_connections(self, name):
        """Remove vertex or input ``name`` and every reference to it (then call set_outputs)."""
        return self._edit("remove_vertex", name, True)

    def add_layer(self, name, layer, *inputs):
        """Add ``layer`` fed by ``inputs`` (optionally after an InputPreProcessor first)."""
        return self._edit("add_layer", name, layer, *inputs)

    def add_vertex(self, name, vertex, *inputs):
        """Add vertex ``name`` reading ``inputs``."""
        return self._edit("add_vertex", name, vertex, *inputs)

    def add_inputs(self, *names):
        """Add network inputs by name."""
        return self._edit("add_inputs", *names)

    def set_inputs(self, *names):
        """Replace the network inputs."""
        return self._edit("set_inputs", *names)

    def set_input_types(self, *types):
        """The types of the network inputs, one per input in order (they replace the original's)."""
        return self._edit("set_input_types", *types)

    def set_outputs(self, *names):
        """Replace the output list (newer DL4J semantics)."""
        return self._edit("set_outputs", *names)

    def set_workspace_mode(self, mode):
        """Accepted for DL4J code; ignored (minidl has no workspaces: NumPy manages memory)."""
        return self

    # -- build -----------------------------------------------------------------------------
    def _fine_tuned(self):
        """A copy of the original configuration with the fine-tune configuration imposed."""
        conf = self._original.conf.clone()
        for vertex in conf.vertices.values():
            if isinstance(vertex, Layer):
                self._ftc.apply_to_layer(vertex)
        return conf

    def _edited_graph(self, conf):
        """``conf`` with every structural edit made, added layers filled from the fine-tune
        configuration."""
        original = self._original.conf
        graph = _GraphEdit(conf, self._ftc.applied_defaults(original.seed),
                           self._ftc.network_settings(original.defaults), original.input_types)
        for method, args in self._structure:
            getattr(graph, method)(*args)
        return graph

    def _resized(self, conf):
        """The layers of ``conf`` (fine-tuned) that n_out_replace / n_in_replace change.

        A layer the edits name starts from the original with DL4J's resetLayerDefaultConfig,
        refilled from the fine-tune configuration; a layer they only feed starts fine-tuned.
        """
        layers = {name: v for name, v in conf.vertices.items() if isinstance(v, Layer)}
        order = [name for name in self._original.conf.topological_order() if name in layers]
        return self._resizes.apply(layers, order, self._layers_fed_by, self._reset)

    def _reset(self, name):
        """A copy of original layer ``name`` after DL4J's resetLayerDefaultConfig, refilled from
        the fine-tune configuration, then DL4J's defaults."""
        layer = copy.deepcopy(unwrap(self._original.conf.vertices[name]))
        for field in _RESET_FIELDS:
            setattr(layer, field, None)
        layer.apply_defaults(self._ftc.applied_defaults(self._original.conf.seed).layer_defaults())
        return layer

    def build(self):
        """The new ComputationGraph (the original is not changed)."""
        conf = self._fine_tuned()
        resized = self._resized(conf)
        conf.vertices.update(resized)
        graph = self._edited_graph(conf)
        originals = {name for name in graph.conf.vertices if name not in graph.added}
        self._resizes.require_kept(originals, "remove_vertex_* (or replaced by add_layer)")
        built = graph.builder.validate_output_layer_config(self._validate_output).build()
        self._freeze(built)
        _warn_untrainable(built.vertices, lambda name: built.vertex_inputs.get(name, ()),
                          built.network_outputs)
        net = ComputationGraph(built).init().to(self._original.device)  # where the original is
        fresh = graph.added | set(resized)
        kept = {name: name for name, _ in net.layer_items()
                if name not in fresh and name in self._original.param_tables}
        net.copy_params_from(self._original, kept)
        return net

    def _freeze(self, conf):
        """With set_feature_extractor, freeze exactly the named vertices and their ancestors
        (never descendants); see ``_as_frozen``."""
        if not self._frozen:
            return
        try:
            frozen_names = conf.ancestors(self._frozen)
        except ValueError as error:  # an unknown name, listing the known ones
            raise ValueError(f"set_feature_extractor: {error}") from None
        for name, vertex in conf.vertices.items():
            conf.vertices[name] = _as_frozen(vertex, name in frozen_names)


class TransferLearning:
    """DL4J's entry point: ``TransferLearning.Builder(mln)`` and ``TransferLearning.GraphBuilder(cg)``.

    ``builder_for(network)`` gives the one that edits ``network``: code that takes either kind
    (``transfer.heads``) asks here instead of testing the kind itself.
    """

    Builder = Builder
    GraphBuilder = GraphBuilder

    @staticmethod
    def builder_for(network):
        """The builder that edits ``network``'s kind: Builder or GraphBuilder."""
        builders = {MultiLayerConfiguration: Builder, ComputationGraphConfiguration: GraphBuilder}
        return builders[network.configuration_class](network)
