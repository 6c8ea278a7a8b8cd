"""The GPU precision setting on the emulated GPU: MINIDL_PRECISION / set_precision reach CuPy's
float32 GEMMs (fake_cupy keeps CuPy's rule: CUPY_TF32 read at the first GEMM, then cached) and
change what a convolution computes, before or after the first GEMM."""

import sys
import types

import numpy as np
import pytest

from emulated_gpu import fake_cupy
from minidl import backend
from minidl.autograd import no_grad
from minidl.ops.conv import conv2d


@pytest.fixture
def fresh_gpu(request, monkeypatch):
    """minidl as in a new process about to load CuPy (here fake_cupy, with the g++ kernels)."""
    request.getfixturevalue("cuda_emulator").install(monkeypatch, fake_cupy.module)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy.module)
    monkeypatch.setattr(fake_cupy, "_compute_types", {})  # CuPy's cache, not decided yet
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_precision", None)
    monkeypatch.setenv("CUPY_TF32", "0")  # (restored afterwards: minidl sets it)
    monkeypatch.delenv("MINIDL_PRECISION", raising=False)
    yield fake_cupy.module
    backend.set_device("cpu")


def _case(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 8, 6, 6)).astype(np.float32)
    W = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    return x, W


def _reference(x, W):
    """The convolution in float64 on the CPU (same padding): the truth both precisions meet."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((x.shape[0], W.shape[0], x.shape[2], x.shape[3]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + x.shape[2], j:j + x.shape[3]],
                             W[:, :, i, j].astype(np.float64))
    return out


def _gpu_conv(cupy, x, W):
    with no_grad():
        y = conv2d(cupy.asarray(x), cupy.asarray(W), padding=1)
    return backend.to_cpu(y).astype(np.float64)


def _error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_tf32_from_the_environment_is_set_before_cupys_first_gemm(fresh_gpu, monkeypatch):
    monkeypatch.setenv("MINIDL_PRECISION", "tf32")
    backend.set_device("gpu")
    assert backend.get_precision() == "tf32"
    import os
    assert os.environ["CUPY_TF32"] == "1"
    x, W = _case()
    got = _gpu_conv(fresh_gpu, x, W)
    # TF32 rounds each input to a 10-bit mantissa (relative error up to 2^-11 ~ 5e-4): the
    # result is the exact convolution of the rounded inputs, not of the float32 ones
    rounded = _reference(fake_cupy.to_tf32(x), fake_cupy.to_tf32(W))
    assert _error(got, rounded) < 1e-6
    assert 1e-5 < _error(got, _reference(x, W)) < 3e-3


def test_fp32_is_the_default_and_exact_float32(fresh_gpu):
    backend.set_device("gpu")
    assert backend.get_precision() == "fp32"
    x, W = _case()
    assert _error(_gpu_conv(fresh_gpu, x, W), _reference(x, W)) < 1e-6


def test_a_change_after_the_first_gemm_takes_effect_at_the_next_one(fresh_gpu):
    backend.set_device("gpu")
    x, W = _case(1)
    truth = _reference(x, W)
    assert _error(_gpu_conv(fresh_gpu, x, W), truth) < 1e-6  # CuPy has decided: fp32
    backend.set_precision("tf32")
    assert _error(_gpu_conv(fresh_gpu, x, W), truth) > 1e-5
    backend.set_precision("fp32")
    assert _error(_gpu_conv(fresh_gpu, x, W), truth) < 1e-6


def test_without_cupys_switch_a_change_once_cupy_is_loaded_is_refused(fresh_gpu, monkeypatch):
    monkeypatch.setattr(fresh_gpu, "_core", types.SimpleNamespace())  # a CuPy without it
    backend.set_device("gpu")
    backend.set_precision("fp32")  # what is in force already: nothing to change
    with pytest.raises(backend.PrecisionError, match="MINIDL_PRECISION=tf32 before"):
        backend.set_precision("tf32")
    assert backend.get_precision() == "fp32"
