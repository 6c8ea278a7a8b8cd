"""minidl.backend: device selection fails clearly where the GPU cannot be used."""

import sys
import types

import numpy as np
import pytest

from minidl import backend


@pytest.fixture
def fresh_backend(monkeypatch):
    """The backend as before any device was asked for (restored afterwards)."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.delenv("MINIDL_DEVICE", raising=False)
    return backend


def test_gpu_without_cupy_says_how_to_install(fresh_backend, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(backend.DeviceError, match="CuPy is not installed.*minidl\\[gpu\\]"):
        fresh_backend.set_device("gpu")
    assert fresh_backend.get_device() == "cpu"  # the failed request changed nothing
    assert fresh_backend.gpu_available() is False


def test_gpu_without_a_device(fresh_backend, monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(backend.DeviceError, match="no usable CUDA device"):
        fresh_backend.set_device("cuda:0")
    with pytest.raises(backend.DeviceError):
        fresh_backend.to_device(np.zeros(2), "gpu")


def test_environment_variable_asks_for_the_gpu(fresh_backend, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setenv("MINIDL_DEVICE", "gpu")
    with pytest.raises(backend.DeviceError, match="MINIDL_DEVICE=gpu"):
        fresh_backend.get_device()


def test_unknown_device_name(fresh_backend):
    with pytest.raises(ValueError, match="unknown device 'tpu'.*cpu, gpu"):
        fresh_backend.set_device("tpu")


def test_cpu_arrays_stay_numpy(fresh_backend):
    a = np.arange(3.0)
    assert fresh_backend.get_array_module(a) is np
    assert fresh_backend.device_of(a) == "cpu"
    assert fresh_backend.to_device(a, "cpu") is a  # no copy when already there
