"""A GPU for machines without one: minidl's GPU code path run on the CPU, for the tests.

``fake_cupy`` stands in for CuPy (NumPy data under CuPy's rules about host and device arrays)
and ``kernels`` compiles the CUDA kernels of ``minidl.ops.cuda`` with g++. Together they run the
``gpu-emulated`` case of the ``device`` fixture (tests/conftest.py): every test written for both
backends also exercises the GPU branches of minidl on any machine with a C++ compiler.
"""
