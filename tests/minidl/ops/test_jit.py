"""minidl.ops.jit: the compiled loops are on when numba imports and MINIDL_JIT is not 0."""

import sys

import numpy as np
import pytest

from minidl.ops import depthwise_conv2d, jit


@pytest.fixture
def undecided(monkeypatch):
    """jit as at the start of a process: nothing decided yet."""
    monkeypatch.setattr(jit, "_enabled", None)


@pytest.mark.parametrize("value, on", [("0", False), (" 0 ", False), ("1", True), ("", True)])
def test_minidl_jit_turns_the_compiled_loops_off(undecided, monkeypatch, value, on):
    pytest.importorskip("numba")
    monkeypatch.setenv("MINIDL_JIT", value)
    assert jit.enabled() is on
    assert (jit.kernels("minidl.ops.depthwise_jit") is not None) is on


def test_without_numba_the_numpy_loops_run(undecided, monkeypatch):
    monkeypatch.delenv("MINIDL_JIT", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    assert not jit.enabled()
    assert jit.kernels("minidl.ops.depthwise_jit") is None
    jit.set_enabled(True)  # asked for, but numba cannot be imported
    assert not jit.enabled()
    x = np.arange(2 * 3 * 3, dtype=np.float64).reshape(1, 2, 3, 3)
    W = np.ones((1, 1, 2, 1))
    np.testing.assert_array_equal(depthwise_conv2d(x, W).numpy(), x)  # 1x1 ones: the identity


def test_set_enabled_switches_between_the_paths(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(jit, "_enabled", None)
    jit.set_enabled(False)
    assert jit.kernels("minidl.ops.depthwise_jit") is None
    jit.set_enabled(True)
    assert jit.kernels("minidl.ops.depthwise_jit").correlate is not None


def test_a_module_that_fails_to_load_turns_the_loops_off_with_a_warning(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(jit, "_enabled", True)
    with pytest.warns(RuntimeWarning, match="minidl.ops.no_such_kernels failed to load"):
        assert jit.kernels("minidl.ops.no_such_kernels") is None
    assert not jit.enabled()
