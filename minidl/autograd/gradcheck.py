"""Gradient checking: compare a Function's backward with central finite differences.

The check runs in float64, where a central difference with eps ~ 1e-6 agrees with the exact
derivative to about 1e-8, so a wrong backward (a missing transpose, a dropped broadcast sum)
shows up as an error many orders of magnitude larger than the tolerance.

``f`` runs on the current default device (``minidl.set_device``), so the same check covers the
GPU code path: the inputs are kept and perturbed on the host and moved over for every call.
"""

import numpy as np

from minidl.autograd.tensor import Tensor
from minidl.backend import to_cpu, to_device


def _scalarize(y, weight):
    """sum(y * weight): a random projection turns any output into a scalar objective."""
    return (y * Tensor(to_device(weight))).sum()


def numerical_grad(f, inputs, index, weight, eps=1e-6):
    """d sum(f(*inputs) * weight) / d inputs[index], by central differences (float64 arrays)."""
    x = inputs[index]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        original = x[i]
        x[i] = original + eps
        plus = np.sum(_evaluate(f, inputs) * weight)
        x[i] = original - eps
        minus = np.sum(_evaluate(f, inputs) * weight)
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def _evaluate(f, inputs):
    """f of host arrays, run on the current device; the result back on the host."""
    y = f(*[Tensor(to_device(a)) for a in inputs])
    return to_cpu(y.data if isinstance(y, Tensor) else y)


def gradcheck(f, *inputs, wrt=None, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check the analytic gradient of ``f`` against finite differences; raise on mismatch.

    Args:
        f: a callable taking Tensors and returning one Tensor (any shape).
        inputs: arrays (host or device); floating-point ones become float64 host copies.
        wrt: indices of the inputs to check (default: every floating-point input).
        eps, atol, rtol: the difference step and the tolerance of ``np.allclose``.
        seed: seeds the random projection of the output.
    Returns:
        True when every checked gradient matches.
    Raises:
        AssertionError naming the input, the largest error and where it is.
    """
    arrays = [to_cpu(a) for a in inputs]
    arrays = [a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a for a in arrays]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64]
    tensors = [Tensor(to_device(a), requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    y = f(*tensors)
    weight = np.random.default_rng(seed).standard_normal(y.shape)
    _scalarize(y, weight).backward()
    for i in wrt:
        grad = tensors[i].grad
        analytic = to_cpu(grad) if grad is not None else np.zeros_like(arrays[i])
        numeric = numerical_grad(f, arrays, i, weight, eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            where = np.unravel_index(np.argmax(err), err.shape)
            raise AssertionError(
                f"gradcheck failed for input {i} of shape {arrays[i].shape}: max |analytic - "
                f"numeric| = {err.max():.3e} at {where} (analytic {analytic[where]:.6e}, "
                f"numeric {numeric[where]:.6e})")
    return True
