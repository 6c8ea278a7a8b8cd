"""The array-module switch: NumPy by default, CuPy only when asked, clear errors without it."""

import subprocess
import sys

import numpy as np
import pytest

from minidl import backend


def test_import_minidl_does_not_import_cupy():
    code = "import sys, minidl, minidl.ops; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**_env(), "MINIDL_DEVICE": ""})
    assert out.stdout.strip() == "False"


def _env():
    import os
    return dict(os.environ)


def test_cpu_is_the_default_and_numpy_arrays_stay_on_it():
    assert backend.get_device() == "cpu"
    a = np.ones(3)
    assert backend.get_array_module(a) is np
    assert backend.to_cpu(a) is a or np.shares_memory(backend.to_cpu(a), a)
    assert backend.device_of(a) == "cpu"
    assert backend.array_module("cpu") is np
    np.testing.assert_array_equal(backend.to_device([1.0, 2.0], "cpu"), [1.0, 2.0])


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        backend.set_device("tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is present here")
def test_asking_for_the_gpu_without_one_raises_a_clear_error():
    with pytest.raises(backend.DeviceError, match="GPU was asked for"):
        backend.set_device("gpu")
    assert backend.get_device() == "cpu"  # unchanged by the failed switch
    code = "import minidl, minidl.backend as b; b.get_device()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**_env(), "MINIDL_DEVICE": "gpu"})
    assert out.returncode != 0 and "GPU was asked for" in out.stderr


def test_to_cpu_takes_arrays_and_tensors_from_either_device(device):
    from minidl.autograd import Tensor

    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = backend.to_device(host, device)
    for value in (a, Tensor(a)):  # (a CuPy array's .data is its address, not its contents)
        back = backend.to_cpu(value)
        assert isinstance(back, np.ndarray)
        np.testing.assert_array_equal(back, host)
