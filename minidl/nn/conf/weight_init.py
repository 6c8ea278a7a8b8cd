"""Weight initialisation: DL4J's ``WeightInit`` schemes and ``Distribution`` classes.

``init_weights(scheme, shape, fan_in, fan_out, rng)`` draws one parameter array. ``scheme`` is a
``WeightInit`` member (or its name), or a distribution such as ``NormalDistribution(0, 0.01)``
(DL4J's ``.weightInit(new NormalDistribution(0, 0.01))``). Fans follow DL4J: a dense layer has
``fan_in = n_in`` and ``fan_out = n_out``; a convolution has ``fan_in = n_in * kh * kw`` and
``fan_out = n_out * kh * kw``. The formulas are DL4J's (``WeightInitUtil`` and the
``WeightInit*`` classes), with N(0, s) meaning standard deviation s:

======================================  ========================================================
ZERO, ONES                              0, 1
NORMAL, LECUN_NORMAL, XAVIER_FAN_IN     N(0, 1/sqrt(fan_in))
XAVIER                                  N(0, sqrt(2 / (fan_in + fan_out)))
XAVIER_UNIFORM                          U(-s, s), s = sqrt(6 / (fan_in + fan_out))
XAVIER_LEGACY                           N(0, 1/sqrt(shape[0] + shape[1]))
RELU                                    N(0, sqrt(2 / fan_in))
RELU_UNIFORM                            U(-s, s), s = sqrt(6 / fan_in)
UNIFORM                                 U(-a, a), a = 1 / sqrt(fan_in)
LECUN_UNIFORM                           U(-a, a), a = 3 / sqrt(fan_in)
SIGMOID_UNIFORM                         U(-r, r), r = 4 sqrt(6 / (fan_in + fan_out))
IDENTITY                                identity matrix (square 2-d weights only)
VAR_SCALING_NORMAL_FAN_IN / OUT / AVG   truncated N(0, s) at 2 s, s = sqrt(1 / fan), fan = fan_in,
                                        fan_out or (fan_in + fan_out) / 2
VAR_SCALING_UNIFORM_FAN_IN / OUT / AVG  U(-a, a), a = 3 / sqrt(fan) (DL4J's formula, as written)
DISTRIBUTION                            draw from the given distribution
======================================  ========================================================

The same generator state gives the same array. Arrays are drawn in C order, so the values differ
from DL4J's (its default order is 'f'); the distributions are the same.
"""

import dataclasses
import math

import numpy as np

from minidl.nn.conf.enums import Dl4jEnum
from minidl.serde import JsonConfig


class WeightInit(Dl4jEnum):
    """Weight initialisation schemes (DL4J's ``WeightInit``); formulas in the module docstring."""

    DISTRIBUTION = "distribution"
    ZERO = "zero"
    ONES = "ones"
    SIGMOID_UNIFORM = "sigmoid_uniform"
    NORMAL = "normal"
    LECUN_NORMAL = "lecun_normal"
    UNIFORM = "uniform"
    XAVIER = "xavier"
    XAVIER_UNIFORM = "xavier_uniform"
    XAVIER_FAN_IN = "xavier_fan_in"
    XAVIER_LEGACY = "xavier_legacy"
    RELU = "relu"
    RELU_UNIFORM = "relu_uniform"
    IDENTITY = "identity"
    LECUN_UNIFORM = "lecun_uniform"
    VAR_SCALING_NORMAL_FAN_IN = "var_scaling_normal_fan_in"
    VAR_SCALING_NORMAL_FAN_OUT = "var_scaling_normal_fan_out"
    VAR_SCALING_NORMAL_FAN_AVG = "var_scaling_normal_fan_avg"
    VAR_SCALING_UNIFORM_FAN_IN = "var_scaling_uniform_fan_in"
    VAR_SCALING_UNIFORM_FAN_OUT = "var_scaling_uniform_fan_out"
    VAR_SCALING_UNIFORM_FAN_AVG = "var_scaling_uniform_fan_avg"


# -- distributions ------------------------------------------------------------------------------

class Distribution(JsonConfig):
    """Base of the weight distributions (DL4J's ``Distribution``); subclasses are dataclasses
    with a ``sample(shape, rng, dtype)`` method."""

    def sample(self, shape, rng, dtype=np.float32):
        """An array of ``shape`` drawn with ``rng``."""
        raise NotImplementedError



def _standard_normal(rng, shape, dtype):
    return rng.standard_normal(shape, dtype=_float_dtype(dtype))


def _uniform(rng, shape, low, high, dtype):
    dtype = _float_dtype(dtype)
    return (rng.random(shape, dtype=dtype) * dtype.type(high - low) + dtype.type(low)).astype(dtype)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"weights are drawn as float32 or float64, not {dtype}")
    return dtype


@dataclasses.dataclass
class NormalDistribution(Distribution):
    """Normal (Gaussian) distribution with this mean and standard deviation."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        _check_positive(self, "std", self.std)

    def sample(self, shape, rng, dtype=np.float32):
        z = self._standard(rng, shape, dtype)
        return (z * z.dtype.type(self.std) + z.dtype.type(self.mean)).astype(z.dtype)

    def _standard(self, rng, shape, dtype):
        return _standard_normal(rng, shape, dtype)


GaussianDistribution = NormalDistribution  # DL4J's older name for the same thing


@dataclasses.dataclass
class TruncatedNormalDistribution(NormalDistribution):
    """Normal distribution with values further than 2 std from the mean redrawn (as ND4J)."""

    def _standard(self, rng, shape, dtype):
        z = _standard_normal(rng, shape, dtype)
        outside = np.abs(z) > 2
        while outside.any():  # rejection: each pass keeps ~95% of the redraws
            z[outside] = _standard_normal(rng, int(outside.sum()), dtype)
            outside = np.abs(z) > 2
        return z


@dataclasses.dataclass
class LogNormalDistribution(Distribution):
    """exp of a normal with this mean and std (DL4J's ``LogNormalDistribution``)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        _check_positive(self, "std", self.std)

    def sample(self, shape, rng, dtype=np.float32):
        return np.exp(NormalDistribution(self.mean, self.std).sample(shape, rng, dtype))


@dataclasses.dataclass
class UniformDistribution(Distribution):
    """Uniform distribution on [lower, upper)."""

    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self):
        if not self.lower < self.upper:
            raise ValueError(f"UniformDistribution: lower ({self.lower}) must be below upper "
                             f"({self.upper})")

    def sample(self, shape, rng, dtype=np.float32):
        return _uniform(rng, shape, self.lower, self.upper, dtype)


@dataclasses.dataclass
class ConstantDistribution(Distribution):
    """Every weight equal to ``value``."""

    value: float = 0.0

    def sample(self, shape, rng, dtype=np.float32):
        return np.full(shape, self.value, dtype=_float_dtype(dtype))


def _check_positive(owner, name, value):
    if not value > 0:
        raise ValueError(f"{type(owner).__name__}: {name} must be > 0, got {value!r}")


# -- init_weights -------------------------------------------------------------------------------

def _normal(std):
    return lambda fan_in, fan_out, shape: NormalDistribution(0.0, std(fan_in, fan_out, shape))


def _truncated(fan):
    return lambda fan_in, fan_out, shape: TruncatedNormalDistribution(
        0.0, math.sqrt(1.0 / fan(fan_in, fan_out)))


def _symmetric_uniform(bound):
    return lambda fan_in, fan_out, shape: UniformDistribution(-bound(fan_in, fan_out),
                                                              bound(fan_in, fan_out))


def _fan_avg(fan_in, fan_out):
    return (fan_in + fan_out) / 2.0


# Each scheme as the distribution it draws from, given the fans and the shape: one table, so
# the formulas can be read (and checked against DL4J) in one place.
_SCHEMES = {
    WeightInit.ZERO: lambda fi, fo, shape: ConstantDistribution(0.0),
    WeightInit.ONES: lambda fi, fo, shape: ConstantDistribution(1.0),
    WeightInit.NORMAL: _normal(lambda fi, fo, shape: 1.0 / math.sqrt(fi)),
    WeightInit.LECUN_NORMAL: _normal(lambda fi, fo, shape: 1.0 / math.sqrt(fi)),
    WeightInit.XAVIER_FAN_IN: _normal(lambda fi, fo, shape: 1.0 / math.sqrt(fi)),
    WeightInit.XAVIER: _normal(lambda fi, fo, shape: math.sqrt(2.0 / (fi + fo))),
    WeightInit.XAVIER_LEGACY: _normal(lambda fi, fo, shape: 1.0 / math.sqrt(shape[0] + shape[1])),
    WeightInit.RELU: _normal(lambda fi, fo, shape: math.sqrt(2.0 / fi)),
    WeightInit.XAVIER_UNIFORM: _symmetric_uniform(lambda fi, fo: math.sqrt(6.0 / (fi + fo))),
    WeightInit.RELU_UNIFORM: _symmetric_uniform(lambda fi, fo: math.sqrt(6.0 / fi)),
    WeightInit.UNIFORM: _symmetric_uniform(lambda fi, fo: 1.0 / math.sqrt(fi)),
    WeightInit.LECUN_UNIFORM: _symmetric_uniform(lambda fi, fo: 3.0 / math.sqrt(fi)),
    WeightInit.SIGMOID_UNIFORM: _symmetric_uniform(lambda fi, fo: 4.0 * math.sqrt(6.0 / (fi + fo))),
    WeightInit.VAR_SCALING_NORMAL_FAN_IN: _truncated(lambda fi, fo: fi),
    WeightInit.VAR_SCALING_NORMAL_FAN_OUT: _truncated(lambda fi, fo: fo),
    WeightInit.VAR_SCALING_NORMAL_FAN_AVG: _truncated(_fan_avg),
    WeightInit.VAR_SCALING_UNIFORM_FAN_IN: _symmetric_uniform(lambda fi, fo: 3.0 / math.sqrt(fi)),
    WeightInit.VAR_SCALING_UNIFORM_FAN_OUT: _symmetric_uniform(lambda fi, fo: 3.0 / math.sqrt(fo)),
    WeightInit.VAR_SCALING_UNIFORM_FAN_AVG: _symmetric_uniform(
        lambda fi, fo: 3.0 / math.sqrt(_fan_avg(fi, fo))),
}


def distribution_for(scheme, fan_in, fan_out, shape=None, distribution=None):
    """The ``Distribution`` that ``scheme`` draws from for these fans (None for IDENTITY)."""
    if isinstance(scheme, Distribution):
        return scheme
    scheme = WeightInit.parse(scheme)
    if scheme is WeightInit.DISTRIBUTION:
        if distribution is None:
            raise ValueError("WeightInit.DISTRIBUTION needs a distribution (e.g. "
                             "NormalDistribution(0, 0.01)); none was given")
        return distribution
    if scheme is WeightInit.IDENTITY:
        return None
    if scheme is WeightInit.XAVIER_LEGACY and (shape is None or len(shape) < 2):
        raise ValueError(f"WeightInit.XAVIER_LEGACY needs a shape of 2 or more dimensions, "
                         f"got {shape}")
    return _SCHEMES[scheme](fan_in, fan_out, shape)


def init_weights(scheme, shape, fan_in, fan_out, rng, dtype=np.float32, distribution=None):
    """A new NumPy array of ``shape`` drawn by ``scheme`` (a WeightInit or a Distribution).

    ``rng`` is a ``numpy.random.Generator``; ``distribution`` is only for
    ``WeightInit.DISTRIBUTION``.
    """
    shape = tuple(int(d) for d in shape)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"init_weights needs a numpy.random.Generator, got {type(rng).__name__}")
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(f"init_weights: fan_in and fan_out must be > 0, got fan_in={fan_in}, "
                         f"fan_out={fan_out} for shape {shape}")
    dist = distribution_for(scheme, fan_in, fan_out, shape, distribution)
    if dist is None:  # IDENTITY
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"WeightInit.IDENTITY needs square 2-d weights, got shape {shape}")
        return np.eye(shape[0], dtype=_float_dtype(dtype))
    return dist.sample(shape, rng, dtype)
