"""FineTuneConfiguration: the settings that transfer learning imposes on a pretrained network.

Every field is tri-state, as in DL4J:

* ``None``  - unset: the layer keeps what it has;
* a value   - set: every original layer gets it (frozen ones too, which then ignore updater and
              regularization at run time);
* ``REMOVE`` - strip the setting from every layer (e.g. ``dropout(0)`` removes dropout,
              ``l2(0)`` removes L2).

Layers *added* by the transfer builder are treated differently: the fine-tune values only fill
the fields those layers leave unset, so ``OutputLayer(updater=Adam(0.1))`` keeps its Adam.

DL4J's regularization quirks are kept: a fine-tune configuration that sets any of L1/L2/weight
decay replaces the layer's whole set of those (so setting L2 drops an existing L1), and
``l1(0)`` leaves L1 alone where ``l2(0)`` removes L2.

Like every configuration it round-trips through ``to_json`` / ``from_json``; DL4J's
``toYaml`` / ``fromYaml`` have no counterpart, as no minidl configuration has YAML. DL4J's
workspace and cuDNN modes are accepted by the builder and ignored.
"""

import copy
import dataclasses

from minidl.naming import Dl4jNames
from minidl import serde
from minidl.serde import JsonConfig
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.configuration import NETWORK_FIELDS, NeuralNetConfiguration
from minidl.nn.conf.enums import ConvolutionMode, Dl4jEnum
from minidl.nn.conf.layers import BaseLayer, ConvolutionLayer, SubsamplingLayer, unwrap
from minidl.nn.conf.settings import REGULARIZATION_FIELDS, LayerSettings, layer_setting_names


class FineTune(Dl4jEnum):
    """The third state of a fine-tune field: take the setting away from every layer."""

    REMOVE = "remove"


REMOVE = FineTune.REMOVE

# Fields copied onto every original BaseLayer when set (the regularization ones go as a group).
_LAYER_FIELDS = [name for name in layer_setting_names()
                 if not any(name in group for group in REGULARIZATION_FIELDS)]


@with_builder
@dataclasses.dataclass
class FineTuneConfiguration(LayerSettings, JsonConfig, Dl4jNames):
    """What to override on the original layers of a pretrained network (see module docstring).

    The layer settings (activation, weight_init, updater, l1, l2, ...) come from LayerSettings;
    here each may also be REMOVE.
    """

    dropout: object = None
    convolution_mode: object = None
    seed: int = None
    optimization_algo: object = None
    mini_batch: bool = None
    minimize: bool = None

    builder_aliases = {"drop_out": "dropout", "dist": "weight_init",
                       "optimization_algorithm": "optimization_algo"}
    # DL4J's workspace and cuDNN modes: accepted and dropped, as by NeuralNetConfiguration.Builder
    builder_ignored = NeuralNetConfiguration.builder_ignored

    @classmethod
    def builder(cls):
        """DL4J's static ``FineTuneConfiguration.builder()``: a ``FineTuneConfiguration.Builder()``."""
        return cls.Builder()

    def __post_init__(self):
        from minidl.nn.conf.weight_init import WeightInit
        super().__post_init__()
        if self.weight_init == WeightInit.DISTRIBUTION:
            raise ValueError("FineTuneConfiguration: weight_init(WeightInit.DISTRIBUTION) is not "
                             "supported; pass the Distribution itself, e.g. "
                             "weight_init(NormalDistribution(0, 0.01))")
        if self.dropout == 0:
            self.dropout = REMOVE  # dropOut(0.0) means "remove dropout"
        # DL4J: l1(x <= 0) only leaves L1 out of the fine-tune set; the others remove.
        for name in ("l1", "l1_bias"):
            if _is_number(getattr(self, name)) and getattr(self, name) <= 0:
                setattr(self, name, None if name == "l1" else REMOVE)
        for name in ("l2", "l2_bias", "weight_decay", "weight_decay_bias"):
            if _is_number(getattr(self, name)) and getattr(self, name) <= 0:
                setattr(self, name, REMOVE)
        for l2, decay in (("l2", "weight_decay"), ("l2_bias", "weight_decay_bias")):
            if _positive(getattr(self, l2)) and _positive(getattr(self, decay)):
                raise ValueError(f"FineTuneConfiguration: set {l2} or {decay}, not both (DL4J "
                                 f"drops the one set first, with a warning)")
        if self.convolution_mode is not None:
            self.convolution_mode = ConvolutionMode.parse(self.convolution_mode)

    # -- applied to the original layers ----------------------------------------------------
    def apply_to_layer(self, layer):
        """Override this configuration's set fields on ``layer`` (in place; the layer is a copy).

        A frozen wrapper's inner layer is the one changed.
        """
        wrapper, layer = layer, unwrap(layer)
        if isinstance(layer, BaseLayer):
            if self.dropout is not None:
                layer.dropout = None if self.dropout is REMOVE else self.dropout
            # DL4J: a layer without its own bias updater uses its updater for the biases, so a
            # new updater reaches them too. Built layers hold a copy of the updater there.
            follows = layer.bias_updater is None or layer.bias_updater == layer.updater
            for name in _LAYER_FIELDS:
                value = getattr(self, name)
                if value is not None:
                    setattr(layer, name, copy.deepcopy(value))
            if follows and self.updater is not None and self.bias_updater is None:
                layer.bias_updater = copy.deepcopy(self.updater)
            for group in REGULARIZATION_FIELDS:
                self._apply_regularization(layer, group)
        if self.convolution_mode is not None and isinstance(layer, (ConvolutionLayer,
                                                                    SubsamplingLayer)):
            layer.convolution_mode = self.convolution_mode
        return wrapper

    def _apply_regularization(self, layer, group):
        values = {name: getattr(self, name) for name in group}
        if any(_positive(v) for v in values.values()):
            # A non-empty fine-tune list replaces the layer's whole list.
            for name, value in values.items():
                setattr(layer, name, value if _positive(value) else 0.0)
        for name, value in values.items():
            if value is REMOVE:
                setattr(layer, name, 0.0)

    # -- defaults for added layers and the new network --------------------------------------
    def applied_defaults(self, seed=None):
        """A NeuralNetConfiguration whose globals are this configuration's set values.

        Added layers are built against it, so fine-tune values fill only what they leave unset.
        Convolution mode is not among them, as in DL4J.
        """
        values = {}
        for f in dataclasses.fields(NeuralNetConfiguration):
            value = getattr(self, f.name, None)
            if value is not None and value is not REMOVE and f.name != "convolution_mode":
                values[f.name] = copy.deepcopy(value)
        if "seed" not in values and seed is not None:
            values["seed"] = seed
        return NeuralNetConfiguration(**values)

    def network_settings(self, original):
        """The new network's seed, algorithm, ...: the original's, overridden where set here."""
        settings = copy.deepcopy(original)
        for name in NETWORK_FIELDS:
            value = getattr(self, name, None)
            if value is not None:
                setattr(settings, name, value)
        return settings


serde.register(FineTune)
serde.register(FineTuneConfiguration)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value):
    return _is_number(value) and value > 0
