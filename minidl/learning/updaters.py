"""Updaters: turn a gradient into the update that is subtracted from a parameter.

DL4J's convention, kept here: the updater maps a gradient ``g`` to an update ``u`` and the
caller does ``param -= u``. Each updater is a small configuration dataclass (learning rate and
friends, with DL4J's defaults) plus two methods:

- ``init_state(shape, dtype, xp)``: a fresh dict of state arrays (DL4J's state names), e.g.
  Adam's first and second moments ``{"M": zeros, "V": zeros}``;
- ``apply(gradient, state, iteration, epoch)``: the update for this step; the state arrays are
  advanced in place. ``iteration`` counts parameter updates from 0, as in DL4J (Adam's bias
  correction uses ``iteration + 1``).

``step(param, gradient, state, ...)`` does ``param -= apply(...)``. On the GPU it is one fused
kernel instead (``minidl/ops/cuda/updaters.cu``, named by ``kernel``, given
``kernel_scalars``): NumPy's formula launches a kernel per operation, ten for Adam, which for a
small head costs more than the arithmetic. The kernel computes the same operations in the same
order, to the same bits.

The formulas are DL4J's, including its small departures from the textbook (see each class):

=========  ===================================================================================
Sgd        u = lr * g
Nesterovs  v' = mu * v - lr * g;   u = mu * v - (1 + mu) * v'
Adam       m' = b1 m + (1-b1) g;  v' = b2 v + (1-b2) g^2;
           u = lr * sqrt(1 - b2^t) / (1 - b1^t) * m' / (sqrt(v') + eps),  t = iteration + 1
RmsProp    G' = d G + (1-d) g^2 (G starts at eps);   u = lr * g / (sqrt(G') + eps)
AdaGrad    H' = H + g^2 (H starts at 1e-6);          u = lr * g / (sqrt(H') + eps)
NoOp       u = g (DL4J passes the gradient through unchanged; a parameter stays fixed only
           when it gets no gradient, as frozen layers do)
=========  ===================================================================================

Configurations round-trip through JSON with ``to_dict()`` / ``from_dict()`` (the shared
configuration format of ``minidl.serde``: ``{"@class": "Adam", "learning_rate": ...}``).
"""

import dataclasses
import math
import numbers

import numpy as np

from minidl.backend import get_array_module, is_gpu_array
from minidl.naming import Dl4jNames
from minidl.serde import JsonConfig


class IUpdater(JsonConfig, Dl4jNames):
    """Base of the updater configurations (DL4J's ``IUpdater``).

    Subclasses are dataclasses whose fields are the hyper-parameters; ``state_names`` lists the
    state arrays each parameter needs, all of the parameter's shape.
    """

    __slots__ = ()
    state_names = ()
    kernel = None  # the fused GPU step in minidl/ops/cuda/updaters.cu, if there is one

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(value):
                raise ValueError(f"{type(self).__name__}: {f.name} must be a finite number, "
                                 f"got {value!r}")
            setattr(self, f.name, float(value))

    # -- DL4J's IUpdater queries -------------------------------------------------------------
    def has_learning_rate(self):
        return True

    def get_learning_rate(self, iteration=0, epoch=0):
        """The learning rate at this step (no schedules: constant)."""
        return self.learning_rate

    def set_learning_rate(self, learning_rate):
        self.learning_rate = float(learning_rate)

    def state_size(self, n_params):
        """How many state numbers ``n_params`` parameters need (DL4J's ``stateSize``)."""
        return len(self.state_names) * int(n_params)

    def clone(self):
        return dataclasses.replace(self)

    # -- state and step ----------------------------------------------------------------------
    def _initial_state_value(self):
        return 0.0

    def init_state(self, shape, dtype=np.float32, xp=np):
        """Fresh state arrays for one parameter of ``shape``: ``{name: array}``."""
        value = self._initial_state_value()
        return {name: xp.full(shape, value, dtype=dtype) for name in self.state_names}

    def apply(self, gradient, state, iteration=0, epoch=0):
        """The update for ``gradient`` (``param -= update``); advances ``state`` in place."""
        raise NotImplementedError

    def kernel_scalars(self, iteration=0, epoch=0):
        """The hyper-parameters ``kernel`` takes after its arrays, in its order."""
        raise NotImplementedError

    def step(self, param, gradient, state, iteration=0, epoch=0):
        """``param -= update`` in place, ``state`` advanced: ``apply``'s arithmetic, and on the
        GPU the one fused kernel that does the same (see the module docstring)."""
        if self.kernel is not None and is_gpu_array(param) and param.flags.c_contiguous:
            from minidl.ops import cuda  # the kernels' module; CuPy is loaded already

            self._check_state(gradient, state)
            cuda.updater_step(self.kernel, param, gradient,
                              [state[name] for name in self.state_names],
                              self.kernel_scalars(iteration, epoch))
            return
        param -= self.apply(gradient, state, iteration, epoch).astype(param.dtype, copy=False)

    def _check_state(self, gradient, state):
        for name in self.state_names:
            if name not in state:
                raise KeyError(f"{type(self).__name__} updater state has no {name!r} array "
                               f"(has {sorted(state)}); create it with init_state()")
            if state[name].shape != gradient.shape:
                raise ValueError(f"{type(self).__name__} updater state {name!r} has shape "
                                 f"{tuple(state[name].shape)} but the gradient has shape "
                                 f"{tuple(gradient.shape)}")


@dataclasses.dataclass
class Sgd(IUpdater):
    """Plain stochastic gradient descent: ``update = lr * g``. DL4J default lr 1e-3."""

    learning_rate: float = 1e-3
    kernel = "sgd_step"

    def apply(self, gradient, state, iteration=0, epoch=0):
        return gradient * self.learning_rate

    def kernel_scalars(self, iteration=0, epoch=0):
        return (self.learning_rate,)


@dataclasses.dataclass
class Nesterovs(IUpdater):
    """Nesterov momentum in DL4J's form (defaults lr 0.1, momentum 0.9).

    ``v' = mu v - lr g`` and ``update = mu v - (1 + mu) v'``. With a constant learning rate this
    is step for step the same as PyTorch's ``SGD(momentum=mu, nesterov=True)`` (whose buffer is
    ``-v / lr``), only written as an update to subtract.
    """

    learning_rate: float = 0.1
    momentum: float = 0.9
    state_names = ("V",)
    kernel = "nesterov_step"

    def apply(self, gradient, state, iteration=0, epoch=0):
        self._check_state(gradient, state)
        v = state["V"]
        mu_v = v * self.momentum  # mu v with the old v, before v becomes v' in place
        v *= self.momentum
        v -= self.learning_rate * gradient
        return mu_v - (1.0 + self.momentum) * v

    def kernel_scalars(self, iteration=0, epoch=0):
        return self.learning_rate, self.momentum, 1.0 + self.momentum


@dataclasses.dataclass
class Adam(IUpdater):
    """Adam (Kingma & Ba) as DL4J computes it (defaults lr 1e-3, 0.9, 0.999, 1e-8).

    DL4J folds the bias corrections into the step size, ``alpha_t = lr sqrt(1 - b2^t) /
    (1 - b1^t)``, and adds ``epsilon`` to ``sqrt(v)`` *uncorrected*; PyTorch adds it to the
    corrected ``sqrt(v_hat)``. The two agree exactly when epsilon is 0.
    """

    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    state_names = ("M", "V")
    kernel = "adam_step"

    def step_size(self, iteration=0):
        """alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t), t = iteration + 1 (epsilon where that is
        0 or not finite: DL4J's guard against a degenerate step)."""
        t = iteration + 1
        alpha = self.learning_rate * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        return alpha if math.isfinite(alpha) and alpha != 0.0 else self.epsilon

    def kernel_scalars(self, iteration=0, epoch=0):
        return (self.beta1, 1.0 - self.beta1, self.beta2, 1.0 - self.beta2,
                self.step_size(iteration), self.epsilon)

    def apply(self, gradient, state, iteration=0, epoch=0):
        self._check_state(gradient, state)
        xp = get_array_module(gradient)
        m, v = state["M"], state["V"]
        m *= self.beta1
        m += (1.0 - self.beta1) * gradient
        v *= self.beta2
        v += (1.0 - self.beta2) * gradient * gradient
        return self.step_size(iteration) * m / (xp.sqrt(v) + self.epsilon)


@dataclasses.dataclass
class RmsProp(IUpdater):
    """RMSProp as DL4J computes it (defaults lr 0.1, rms_decay 0.95, epsilon 1e-8).

    The running mean of squared gradients ``G`` starts at ``epsilon`` (not 0), and epsilon is
    added to ``sqrt(G)``.
    """

    learning_rate: float = 0.1
    rms_decay: float = 0.95
    epsilon: float = 1e-8
    state_names = ("G",)
    kernel = "rmsprop_step"

    def _initial_state_value(self):
        return self.epsilon

    def apply(self, gradient, state, iteration=0, epoch=0):
        self._check_state(gradient, state)
        xp = get_array_module(gradient)
        g2 = state["G"]
        g2 *= self.rms_decay
        g2 += (1.0 - self.rms_decay) * gradient * gradient
        return self.learning_rate * gradient / (xp.sqrt(g2) + self.epsilon)

    def kernel_scalars(self, iteration=0, epoch=0):
        return self.learning_rate, self.rms_decay, 1.0 - self.rms_decay, self.epsilon


ADAGRAD_INITIAL_HISTORY = 1e-6  # DL4J fills AdaGrad's history with its *default* epsilon


@dataclasses.dataclass
class AdaGrad(IUpdater):
    """AdaGrad as DL4J computes it (defaults lr 0.1, epsilon 1e-6).

    The sum of squared gradients ``H`` starts at 1e-6 (DL4J's default epsilon, whatever epsilon
    is configured), and epsilon is added to ``sqrt(H)``.
    """

    learning_rate: float = 0.1
    epsilon: float = 1e-6
    state_names = ("grad",)
    kernel = "adagrad_step"

    def _initial_state_value(self):
        return ADAGRAD_INITIAL_HISTORY

    def apply(self, gradient, state, iteration=0, epoch=0):
        self._check_state(gradient, state)
        xp = get_array_module(gradient)
        history = state["grad"]
        history += gradient * gradient
        return self.learning_rate * gradient / (xp.sqrt(history) + self.epsilon)

    def kernel_scalars(self, iteration=0, epoch=0):
        return self.learning_rate, self.epsilon


@dataclasses.dataclass
class NoOp(IUpdater):
    """DL4J's NoOp: the update is the gradient itself, unchanged, and there is no learning rate.

    DL4J uses it for values whose "gradient" is already the exact change to make (batch norm's
    running mean and variance). It does not freeze a parameter: a frozen layer is one that gets
    no gradient at all.
    """

    def has_learning_rate(self):
        """False: NoOp changes nothing."""
        return False

    def get_learning_rate(self, iteration=0, epoch=0):
        return float("nan")

    def set_learning_rate(self, learning_rate):
        """Refused: NoOp has no learning rate."""
        raise ValueError("the NoOp updater has no learning rate to set")

    def apply(self, gradient, state, iteration=0, epoch=0):
        return gradient.copy()


UPDATERS = (Sgd, Nesterovs, Adam, RmsProp, AdaGrad, NoOp)
