"""minidl: a small deep-learning engine on NumPy/CuPy with Deeplearning4j's API."""

__version__ = "0.1.0"

from minidl.backend import set_device, get_device, get_array_module, to_cpu, to_device
from minidl.autograd import Tensor, Function, no_grad, gradcheck
from minidl import ops
