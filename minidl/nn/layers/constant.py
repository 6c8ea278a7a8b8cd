"""ConstantArithmeticLayer: arithmetic with a fixed tensor, as ONNX graphs write it.

Exporters spell a per-channel scale and shift (a batch norm Keras decomposed, an input
normalisation, a ``x * 0.5``) as ONNX Add / Sub / Mul / Div with a constant. DL4J has no layer
for that; this one keeps the constant as a parameter ``c`` of kind "state" (like batch norm's
running mean: saved with the model, never trained, no updater) so that the model file carries
it and a large constant does not end up inside the JSON configuration.
"""

import dataclasses

import numpy as np

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.base import Layer

_OPS = {"add": ops.add, "sub": ops.sub, "mul": ops.mul, "div": ops.div}


@with_builder
@dataclasses.dataclass
class ConstantArithmeticLayer(Layer):
    """``x (op) c``, or ``c (op) x`` with ``constant_first``, for a fixed tensor c that
    broadcasts against the input as NumPy does ([batch, ...] with c of ``constant_shape``,
    e.g. (1, C, 1, 1) for a per-channel constant of a feature map, () for a scalar).

    ``op``: "add", "sub", "mul" or "div". Any input shape; the output has the input's shape.
    """

    op: str = "add"
    constant_shape: tuple = ()
    constant_first: bool = False

    has_params = True

    def __post_init__(self):
        self.op = str(self.op).lower()
        self.constant_shape = tuple(int(d) for d in self.constant_shape)
        if self.op not in _OPS:
            raise ValueError(f"layer {self.describe()}: unknown op {self.op!r}; expected one of "
                             f"{', '.join(_OPS)}")

    def param_shapes(self):
        return {"c": self.constant_shape}

    def param_kind(self, param):
        return "state"

    def init_params(self, rng, dtype=np.float32):
        # the neutral constant: 0 for add / sub, 1 for mul / div (import sets the real one)
        return {"c": np.full(self.constant_shape, 0.0 if self.op in ("add", "sub") else 1.0,
                             dtype=dtype)}

    def forward(self, x, params, ctx):
        x, c = self._input_dropout(x, ctx), params["c"]
        return _OPS[self.op](c, x) if self.constant_first else _OPS[self.op](x, c)
