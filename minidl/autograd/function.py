"""Function: one differentiable operation, with a forward on arrays and a backward on gradients.

A subclass implements two methods on raw arrays (NumPy or CuPy, never Tensors):

    forward(*xs)  -> y  or a tuple of ys
    backward(*gys) -> one gx per input (None where an input needs no gradient)

and keeps on ``self`` whatever the backward needs (inputs, a mask, argmax indices). Calling a
Function instance on Tensors runs the forward and, when gradients are enabled and some input
requires one, links the outputs to it so ``Tensor.backward`` can find it. A Function object is
used once: make a new one per call (the ops in ``minidl.ops`` do this for you).

``self.needs_input_grad[i]`` tells whether input i wants a gradient. It is set before the forward
runs (all False under ``no_grad()``), so a forward can skip saving what no backward will use (the
input of a frozen convolution) and a backward can skip work such as the gradient w.r.t. the image
of the first convolution.
"""

import weakref

from minidl.autograd.tensor import Tensor, as_tensor, is_grad_enabled
from minidl.backend import get_array_module


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    needs_input_grad = ()
    inputs = ()

    def __call__(self, *inputs):
        inputs = [as_tensor(x) for x in inputs]
        grad = is_grad_enabled()
        self.needs_input_grad = tuple(grad and x.requires_grad for x in inputs)
        ys = self.forward(*(x.data for x in inputs))
        single = not isinstance(ys, tuple)
        outputs = [Tensor(y) for y in ((ys,) if single else ys)]
        if any(self.needs_input_grad):
            self._link(inputs, outputs)
        return outputs[0] if single else tuple(outputs)

    def _link(self, inputs, outputs):
        self.inputs = inputs
        self.generation = max(x.generation for x in inputs)
        # Weak references: the graph must not keep outputs alive, only outputs keep the graph.
        self.outputs = [weakref.ref(y) for y in outputs]
        self._output_meta = [(y.shape, y.dtype) for y in outputs]
        for y in outputs:
            y.creator = self
            y.requires_grad = True
            y.generation = self.generation + 1

    def forward(self, *xs):
        """Compute the outputs (arrays) from the input arrays ``xs``; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, *gys):
        """The gradients of the inputs from the output gradients ``gys``; subclasses implement
        it."""
        raise NotImplementedError(f"{type(self).__name__}.backward")

    # -- used by Tensor.backward -----------------------------------------------------------
    def output_grads(self, pending, retain_grad):
        """Pop this Function's output gradients from ``pending``; zeros for unused outputs."""
        if getattr(self, "released", False):
            raise RuntimeError(f"backward through {type(self).__name__} a second time: its graph "
                               "was freed by the first backward()")
        gys = []
        for ref, (shape, dtype) in zip(self.outputs, self._output_meta):
            y = ref()
            gy = pending.pop(id(y), (None, None))[1] if y is not None else None
            if gy is None:
                xp = get_array_module(*(x.data for x in self.inputs))
                gy = xp.zeros(shape, dtype=dtype)
            elif retain_grad:
                y.grad = gy
            gys.append(gy)
        return gys

    def run_backward(self, gys):
        """Call ``backward`` and check it gave one gradient per input (the engine's entry point)."""
        gxs = self.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(self.inputs):
            raise RuntimeError(f"{type(self).__name__}.backward returned {len(gxs)} gradients "
                               f"for {len(self.inputs)} inputs")
        return gxs

    def release(self):
        """Drop inputs and saved arrays once the backward has run, freeing activations."""
        generation = self.generation
        self.__dict__.clear()
        self.generation = generation
        self.released = True
