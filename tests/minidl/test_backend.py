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


# -- GPU precision -------------------------------------------------------------------------------
@pytest.fixture
def unset_precision(monkeypatch):
    monkeypatch.setattr(backend, "_precision", None)
    monkeypatch.delenv("MINIDL_PRECISION", raising=False)


def test_precision_is_fp32_by_default_and_set_by_name(unset_precision):
    import minidl
    assert minidl.get_precision() == "fp32"
    minidl.set_precision("TF32")  # names are case-insensitive
    assert minidl.get_precision() == "tf32"
    minidl.set_precision("fp32")
    assert minidl.get_precision() == "fp32"


def test_a_bad_precision_is_a_one_line_error_naming_the_accepted_values(unset_precision,
                                                                         monkeypatch):
    for bad in ("fp16", "bf16", "", None):
        with pytest.raises(ValueError, match="expected one of fp32, tf32$") as error:
            backend.set_precision(bad)
        assert "\n" not in str(error.value) and str(error.value).startswith("set_precision:")
    assert backend.get_precision() == "fp32"  # unchanged
    monkeypatch.setattr(backend, "_precision", None)
    monkeypatch.setenv("MINIDL_PRECISION", "half")
    with pytest.raises(ValueError, match="MINIDL_PRECISION: unknown GPU precision 'half', "
                                         "expected one of fp32, tf32"):
        backend.get_precision()


def test_precision_from_the_environment_imports_no_cupy_on_the_cpu():
    code = ("import os, sys, minidl; minidl.set_device('cpu'); p = minidl.get_precision(); "
            "minidl.set_precision('fp32'); print(p, 'cupy' in sys.modules, "
            "os.environ.get('CUPY_TF32'))")
    env = {**_env(), "MINIDL_PRECISION": "tf32", "MINIDL_DEVICE": "cpu"}
    env.pop("CUPY_TF32", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    assert out.stdout.split() == ["tf32", "False", "None"]  # CUPY_TF32 is set only with CuPy


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="no CUDA device with CuPy")
def test_tf32_changes_cupys_float32_products_on_a_real_gpu(unset_precision):
    import cupy
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((256, 256)).astype(np.float32) for _ in range(2))
    truth = a.astype(np.float64) @ b.astype(np.float64)

    def error():
        got = (cupy.asarray(a) @ cupy.asarray(b)).get()
        return float(np.abs(got - truth).max() / np.abs(truth).max())

    backend.set_device("gpu")
    try:
        backend.set_precision("fp32")
        assert error() < 1e-5
        major = int(cupy.cuda.Device().compute_capability) // 10
        backend.set_precision("tf32")
        assert error() > 1e-5 if major >= 8 else error() < 1e-5  # TF32 needs sm_80+
    finally:
        backend.set_precision("fp32")
        backend.set_device("cpu")
