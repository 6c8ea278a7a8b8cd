"""Keras activation names -> DL4J's ``Activation`` (reference/modern-cnns.md §3.5).

A fused activation (``Conv2D(activation="relu")``) becomes the layer's own activation; an
``Activation`` layer an ActivationLayer. Keras 3 changed ``hard_sigmoid`` to relu6(x + 3) / 6,
which is not DL4J's min(1, max(0, 0.2 x + 0.5)) (Keras 2's): only Keras 2's maps.
"""

from minidl.modelimport.keras.errors import UnsupportedKerasConfigurationException
from minidl.nn.conf.enums import Activation

ACTIVATIONS = {
    "linear": Activation.IDENTITY, "relu": Activation.RELU, "sigmoid": Activation.SIGMOID,
    "tanh": Activation.TANH, "softmax": Activation.SOFTMAX, "softplus": Activation.SOFTPLUS,
    "softsign": Activation.SOFTSIGN, "elu": Activation.ELU, "relu6": Activation.RELU6,
    "swish": Activation.SWISH, "silu": Activation.SWISH, "hard_swish": Activation.HARDSWISH,
    "hard_silu": Activation.HARDSWISH,
}
KERAS2_ONLY = {"hard_sigmoid": Activation.HARDSIGMOID}


def activation(name, keras_major, where):
    """The DL4J Activation of Keras activation ``name``; ``where`` names the layer for errors."""
    table = {**ACTIVATIONS, **(KERAS2_ONLY if keras_major < 3 else {})}
    if name is None:
        return Activation.IDENTITY
    if not isinstance(name, str) or name not in table:
        note = (" (Keras 3's hard_sigmoid is relu6(x + 3) / 6, not DL4J's 0.2 x + 0.5)"
                if name == "hard_sigmoid" else "")
        raise UnsupportedKerasConfigurationException(
            f"{where}: activation {name!r} is not supported{note}; supported: "
            f"{', '.join(sorted(table))}")
    return table[name]
