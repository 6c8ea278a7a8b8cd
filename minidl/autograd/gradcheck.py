"""Gradient checking: compare a Function's backward with central finite differences.

The check runs in float64, where a central difference with eps ~ 1e-6 agrees with the exact
derivative to about 1e-8, so a wrong backward (a missing transpose, a dropped broadcast sum)
shows up as an error many orders of magnitude larger than the tolerance.
"""

import numpy as np

from minidl.autograd.tensor import Tensor


def _scalarize(y, weight):
    """sum(y * weight): a random projection turns any output into a scalar objective."""
    return (y * Tensor(weight)).sum()


def numerical_grad(f, inputs, index, weight, eps=1e-6):
    """d sum(f(*inputs) * weight) / d inputs[index], by central differences (float64 arrays)."""
    x = inputs[index]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        original = x[i]
        x[i] = original + eps
        plus = np.sum(_as_array(f(*[Tensor(a) for a in inputs])) * weight)
        x[i] = original - eps
        minus = np.sum(_as_array(f(*[Tensor(a) for a in inputs])) * weight)
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def _as_array(y):
    return y.data if isinstance(y, Tensor) else np.asarray(y)


def gradcheck(f, *inputs, wrt=None, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check the analytic gradient of ``f`` against finite differences; raise on mismatch.

    Args:
        f: a callable taking Tensors and returning one Tensor (any shape).
        inputs: arrays; converted to float64 copies.
        wrt: indices of the inputs to check (default: every floating-point input).
        eps, atol, rtol: the difference step and the tolerance of ``np.allclose``.
        seed: seeds the random projection of the output.
    Returns:
        True when every checked gradient matches.
    Raises:
        AssertionError naming the input, the largest error and where it is.
    """
    arrays = [np.array(a, dtype=np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating)
              else np.asarray(a) for a in inputs]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float64]
    tensors = [Tensor(a, requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    y = f(*tensors)
    weight = np.random.default_rng(seed).standard_normal(y.shape)
    _scalarize(y, weight).backward()
    for i in wrt:
        analytic = tensors[i].grad if tensors[i].grad is not None else np.zeros_like(arrays[i])
        numeric = numerical_grad(f, arrays, i, weight, eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            err = np.abs(analytic - numeric)
            where = np.unravel_index(np.argmax(err), err.shape)
            raise AssertionError(
                f"gradcheck failed for input {i} of shape {arrays[i].shape}: max |analytic - "
                f"numeric| = {err.max():.3e} at {where} (analytic {analytic[where]:.6e}, "
                f"numeric {numeric[where]:.6e})")
    return True
