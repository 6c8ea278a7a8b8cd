"""Benchmarks of minidl against PyTorch CPU in the same process: ``python -m bench.<name>``.

Run them as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.conv`` so that
OpenBLAS picks its kernel for this CPU itself; each script prints the BLAS in use.
"""
