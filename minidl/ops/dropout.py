"""Inverted dropout with DL4J's meaning of p: the probability of *retaining* a unit.

In training each unit is kept with probability p and scaled by 1/p, so the expected activation
is unchanged and inference needs no rescaling (it is the identity).
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module


class Dropout(Function):
    """y = x * mask / p with mask ~ Bernoulli(p); any shape."""

    def __init__(self, p, rng):
        if not 0.0 < p <= 1.0:
            raise ValueError(f"dropout: p is the probability of retaining a unit and must be in "
                             f"(0, 1], got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        xp = get_array_module(x)
        # The mask is drawn by a NumPy generator on every device so that a seed gives the same
        # mask on the CPU and on the GPU.
        keep = self.rng.random(x.shape, dtype=np.float32) < self.p
        self.scale = xp.asarray(keep, dtype=x.dtype) / x.dtype.type(self.p)
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale


def dropout(x, p, rng, train=True):
    """Apply dropout when ``train`` and p < 1; otherwise return ``x`` unchanged."""
    if not train or p >= 1.0:
        return x
    return Dropout(p, rng)(x)
