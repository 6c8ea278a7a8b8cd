"""minidl: a small deep-learning engine on NumPy/CuPy with Deeplearning4j's API.

Everything a user names is importable from here; the submodules hold the code:
``minidl.autograd`` (Tensor, Function), ``minidl.ops`` (differentiable operations),
``minidl.nn`` (configurations, layers, networks), ``minidl.learning`` (updaters,
regularization), ``minidl.data`` (datasets, iterators, images), ``minidl.eval`` (Evaluation),
``minidl.io`` (downloads, checksums, archives, atomic writes).
"""

from minidl._version import __version__

import sys

from minidl.backend import set_device, get_device, get_array_module, to_cpu, to_device
from minidl.backend import set_precision, get_precision
from minidl.autograd import Tensor, Function, no_grad, gradcheck
from minidl import ops
from minidl.nn import *  # noqa: F401,F403
from minidl.nn.conf.weight_init import WeightInit, Distribution, NormalDistribution, \
    UniformDistribution, ConstantDistribution
from minidl.learning import (Sgd, Nesterovs, Adam, RmsProp, AdaGrad, NoOp, L1Regularization,
                             L2Regularization, WeightDecay)
from minidl.data import *  # noqa: F401,F403
from minidl.nn.serializer import ModelSerializer
from minidl.eval import Evaluation, EvaluationAveraging

# `from minidl import *` (the port of Java's wildcard imports) brings the API's names, never the
# submodules: `eval` and `io` would shadow Python's built-in eval() and the io module.
__all__ = sorted(name for name, value in globals().items()
                 if not name.startswith("_") and not isinstance(value, type(sys)))
del sys
