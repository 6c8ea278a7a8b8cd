"""Reverse-mode automatic differentiation: Tensor, Function, no_grad and gradcheck."""

from minidl.autograd.tensor import Tensor, as_tensor, no_grad, enable_grad, is_grad_enabled
from minidl.autograd.function import Function
from minidl.autograd.gradcheck import gradcheck, numerical_grad

__all__ = ["Tensor", "as_tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled",
           "gradcheck", "numerical_grad"]
