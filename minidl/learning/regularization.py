"""Regularization: L1, L2 and weight decay with DL4J's semantics.

Each regularization says *when* it acts on a parameter's step (``apply_step``):

- ``L1Regularization(c)``: before the updater, ``g += c * sign(w)``; score ``c * sum|w|``.
- ``L2Regularization(c)``: before the updater, ``g += c * w``; score ``0.5 * c * sum w^2``.
- ``WeightDecay(c, apply_lr=True)``: after the updater, ``u += c * lr * w`` (``c * w`` when
  ``apply_lr`` is False); score ``0.5 * c * sum w^2``.

L2 goes through the updater (Adam rescales it); weight decay does not. That is the whole
difference between the two (see https://www.fast.ai/2018/07/02/adam-weight-decay/).
``minidl.learning.step.compute_update`` runs one parameter's step in DL4J's order.
"""

import dataclasses
import math
import numbers

from minidl.backend import get_array_module
from minidl.naming import Dl4jNames
from minidl.serde import JsonConfig

BEFORE_UPDATER = "before_updater"
AFTER_UPDATER = "after_updater"


class Regularization(JsonConfig, Dl4jNames):
    """Base of the regularizations (DL4J's ``Regularization``); subclasses are dataclasses."""

    __slots__ = ()
    apply_step = BEFORE_UPDATER

    def __post_init__(self):
        coeff = self.coeff
        if isinstance(coeff, bool) or not isinstance(coeff, numbers.Real) or \
                not math.isfinite(coeff) or coeff < 0:
            raise ValueError(f"{type(self).__name__}: coeff must be a number >= 0, got {coeff!r}")
        self.coeff = float(coeff)

    def apply(self, param, gradient_or_update, lr=1.0, iteration=0, epoch=0):
        """The gradient (before the updater) or update (after it) with this term added.

        Returns a new array; ``lr`` is the updater's learning rate (1.0 when it has none).
        """
        raise NotImplementedError

    def score(self, param, iteration=0, epoch=0):
        """This term's contribution to the network's score (a Python float)."""
        raise NotImplementedError

    def clone(self):
        return dataclasses.replace(self)



def _sum_of_squares(param):
    return float(get_array_module(param).sum(param.astype("float64") ** 2))


@dataclasses.dataclass
class L1Regularization(Regularization):
    """L1: loss + coeff * sum|w|; adds ``coeff * sign(w)`` to the gradient before the updater."""

    coeff: float = 0.0
    apply_step = BEFORE_UPDATER

    def apply(self, param, gradient_or_update, lr=1.0, iteration=0, epoch=0):
        xp = get_array_module(param)
        return gradient_or_update + self.coeff * xp.sign(param)

    def score(self, param, iteration=0, epoch=0):
        xp = get_array_module(param)
        return self.coeff * float(xp.sum(xp.abs(param.astype("float64"))))


@dataclasses.dataclass
class L2Regularization(Regularization):
    """L2: loss + 0.5 * coeff * sum w^2; adds ``coeff * w`` to the gradient before the updater."""

    coeff: float = 0.0
    apply_step = BEFORE_UPDATER

    def apply(self, param, gradient_or_update, lr=1.0, iteration=0, epoch=0):
        return gradient_or_update + self.coeff * param

    def score(self, param, iteration=0, epoch=0):
        return 0.5 * self.coeff * _sum_of_squares(param)


@dataclasses.dataclass
class WeightDecay(Regularization):
    """Decoupled weight decay: adds ``coeff * lr * w`` (or ``coeff * w``) to the update."""

    coeff: float = 0.0
    apply_lr: bool = True
    apply_step = AFTER_UPDATER

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.apply_lr, bool):
            raise ValueError(f"WeightDecay: apply_lr must be True or False, got {self.apply_lr!r}")

    def apply(self, param, gradient_or_update, lr=1.0, iteration=0, epoch=0):
        scale = self.coeff * lr if self.apply_lr else self.coeff
        return gradient_or_update + scale * param

    def score(self, param, iteration=0, epoch=0):
        return 0.5 * self.coeff * _sum_of_squares(param)


L1 = L1Regularization
L2 = L2Regularization
