"""Running one layer on its own, as a built network would: the layer tests' shared steps.

Inputs and parameters go to the current device (the ``device`` fixture); ``host`` brings
parameters back for the hand computations.
"""

import numpy as np

from devices import host
from minidl import Tensor
from minidl.backend import to_device
from minidl.nn.layers import Context


def ready(layer, input_type):
    """A layer as a built configuration has it: defaults filled, n_in inferred."""
    layer.apply_defaults({})
    layer.output_type(input_type)
    return layer


def device_params(layer, **values):
    """The layer's parameters as float64 Tensors on the current device; ``values`` replace some."""
    arrays = layer.init_params(np.random.default_rng(1), np.float64)
    arrays.update({k: np.array(v, np.float64) for k, v in values.items()})
    return {k: Tensor(to_device(v)) for k, v in arrays.items()}


def host_params(params):
    """NumPy copies of the parameters, for the hand computations."""
    return {k: host(t.data) for k, t in params.items()}


def run(layer, x, params, train=False, seed=0):
    """The layer's forward on ``x`` (moved to the current device) as a Tensor."""
    return layer.forward(Tensor(to_device(x)), params,
                         Context(train=train, rng=np.random.default_rng(seed)))


def run_loss(layer, x, params, y):
    """(loss, output) of an output layer for input ``x`` and labels ``y``."""
    return layer.compute_loss(Tensor(to_device(x)), params, Tensor(to_device(y)),
                              Context(train=False, rng=None))
