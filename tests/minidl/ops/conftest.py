"""Fixtures for the op tests."""

import pytest

from minidl.ops import jit


@pytest.fixture(params=["compiled", "numpy"])
def loops(request, monkeypatch):
    """The CPU path under test where an op has two: numba's compiled loops (``minidl.ops.jit``,
    when numba is installed) or NumPy's."""
    if request.param == "compiled":
        pytest.importorskip("numba")
    monkeypatch.setattr(jit, "_enabled", request.param == "compiled")
    return request.param
