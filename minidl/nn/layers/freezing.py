"""Frozen layers: FrozenLayer and FrozenLayerWithBackprop wrap a layer whose parameters are fixed.

``unwrap(layer)`` reaches the layer inside any wrappers; ``minidl.nn.freezing`` puts the mark on
and takes it off (for layers and parameter-free vertices alike).
"""

import dataclasses

from minidl.autograd import no_grad
from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.base import Context, Layer
from minidl.nn.layers.output import BaseOutputLayer


def _delegated(name):
    """A property that reads ``name`` (an attribute or a method) from the wrapped layer."""
    return property(lambda self: getattr(self.layer, name))


@dataclasses.dataclass
class _FrozenBase(Layer):
    """Wraps a layer whose parameters must not change (DL4J's frozen layers).

    A frozen layer always runs in inference mode (no dropout, batch norm on running statistics):
    its parameters are fixed, so the statistics it was trained with are the ones that fit them,
    and featurizing once must give the same values as running it in every epoch. It has no
    updater and no regularization, so it adds nothing to the score either. Parameter names and
    the initial values are those of the wrapped layer.
    """

    layer: Layer = None

    builder_aliases = {}
    frozen = True

    def __post_init__(self):
        if isinstance(self.name, Layer) and self.layer is None:
            # FrozenLayer(layer), as DL4J writes it: the first positional field is ``name``.
            self.name, self.layer = None, self.name
        if self.layer is None:
            raise ValueError(f"{type(self).__name__} needs a layer to wrap")
        if self.name is None:
            self.name = self.layer.name
        else:
            self.layer.name = self.name

    # Everything about shapes and parameters is the wrapped layer's: attributes the wrapper
    # does not have come from it, and so do the class-level facts below, which a plain
    # __getattr__ would never reach (Layer defines them).
    def __getattr__(self, name):
        if name.startswith("__") or name == "layer":
            raise AttributeError(name)
        return getattr(self.layer, name)

    has_params = _delegated("has_params")
    is_output = _delegated("is_output")
    is_feed_forward = _delegated("is_feed_forward")
    input_kind = _delegated("input_kind")
    output_type = _delegated("output_type")
    param_shapes = _delegated("param_shapes")
    init_params = _delegated("init_params")
    param_kind = _delegated("param_kind")

    def describe(self):
        return f"{self.name!r} ({type(self).__name__}<{self.layer.type_name}>)"

    def apply_defaults(self, defaults):
        self.layer.name = self.name  # the network may have named the wrapper (index, vertex name)
        self.layer.apply_defaults(defaults)

    def updater_for(self, param):
        return None

    def regularization_for(self, param):
        return []

    def _inference(self, ctx):
        return Context(**{**vars(ctx), "train": False})


@with_builder
@dataclasses.dataclass
class FrozenLayer(_FrozenBase):
    """A frozen layer that also stops the gradient: nothing below it trains through it.

    Its forward runs without building a graph, so a network frozen up to layer k does no
    backward work at all below k. An OutputLayer cannot be frozen this way (use
    FrozenLayerWithBackprop).
    """

    builder_args = ("layer",)

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.layer, BaseOutputLayer):
            raise ValueError(f"Output layers are not allowed to be frozen (layer name: "
                             f"{self.layer.name}); use FrozenLayerWithBackprop")

    def forward(self, x, params, ctx):
        with no_grad():
            return self.layer.forward(x, params, self._inference(ctx))


@with_builder
@dataclasses.dataclass
class FrozenLayerWithBackprop(_FrozenBase):
    """A frozen layer that still passes the gradient to the layers below (which may train)."""

    builder_args = ("layer",)

    def forward(self, x, params, ctx):
        return self.layer.forward(x, params, self._inference(ctx))

    def compute_loss(self, x, params, labels, ctx):
        """The wrapped output layer's loss, in inference mode."""
        return self.layer.compute_loss(x, params, labels, self._inference(ctx))


def unwrap(layer):
    """The innermost layer of a (possibly frozen) layer."""
    while isinstance(layer, _FrozenBase):
        layer = layer.layer
    return layer
