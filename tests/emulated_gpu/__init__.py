"""A GPU for machines without one: minidl's GPU code path run on the CPU, for the tests.

``fake_cupy`` stands in for CuPy (NumPy data under CuPy's rules about host and device arrays)
and ``kernels`` compiles the CUDA kernels of ``minidl.ops.cuda`` with g++. Together they run the
``gpu-emulated`` case of the ``device`` fixture (tests/conftest.py): every test written for both
backends also exercises the GPU branches of minidl on any machine with a C++ compiler.
"""


def install_as_cupy():
    """Outside pytest: make ``fake_cupy`` the ``cupy`` module and minidl's CuPy, with the CUDA
    kernels compiled by g++ (for ``bench.gpu_emulated`` and the ``rehearsal`` plugin)."""
    import sys
    import tempfile

    from emulated_gpu import fake_cupy
    from emulated_gpu.kernels import Emulator
    from minidl import backend

    class _Patch:  # the one method of pytest's monkeypatch that Emulator.install uses
        setattr = staticmethod(setattr)

    Emulator(tempfile.mkdtemp(prefix="minidl_kernels_")).install(_Patch(), fake_cupy.module)
    sys.modules["cupy"] = fake_cupy.module
    backend._cupy = fake_cupy.module
    return fake_cupy.module
