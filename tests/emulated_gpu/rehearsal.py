"""A pytest plugin that runs the real-GPU test cases on the emulated GPU:

    PYTHONPATH=tests pytest -p emulated_gpu.rehearsal -m gpu -o addopts=""

It installs ``fake_cupy`` as the ``cupy`` module (and as minidl's CuPy) with the g++-compiled
kernels before the tests are collected, so every ``gpu``-marked case is selected and runs as it
would on a GPU machine, including the ones that ``import cupy`` themselves: a rehearsal of
``bench/gpu_check.sh``'s test step, for before device time is spent on it.
"""

from emulated_gpu import install_as_cupy

# At import, not in pytest_configure: tests/conftest.py asks whether a GPU is available when it
# is loaded, which is before the plugins' configure hooks run.
install_as_cupy()
