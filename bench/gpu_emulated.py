"""Rehearse bench/gpu.py without a GPU, before spending device time on it.

    python -m bench.gpu_emulated [--size 64]      (about 2 minutes on 2 cores; needs g++, torch)

minidl runs on the emulated GPU of the test suite (``tests/emulated_gpu``: ``fake_cupy`` for CuPy,
the CUDA kernels compiled by g++) and PyTorch runs on the CPU posing as CUDA (``.cuda()`` is the
identity). Every section of bench.gpu then runs end to end on small images (``--size``), so a
mistake in the script or in minidl's GPU path shows up here. The agreement figures are
meaningful (the kernels' arithmetic is the GPU's); the timings are not.
"""

import argparse
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _emulate_cupy():
    """fake_cupy as ``cupy`` (for minidl and for bench.gpu), with the g++ kernels, plus the few
    CuPy calls bench.gpu makes for its report."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from emulated_gpu import install_as_cupy

    cupy = install_as_cupy()
    cupy.__version__ = "fake_cupy"
    cupy.cuda.runtime = types.SimpleNamespace(
        getDeviceProperties=lambda device: {"name": b"emulated GPU (tests/emulated_gpu)"},
        runtimeGetVersion=lambda: 0)
    cupy.get_default_memory_pool = lambda: types.SimpleNamespace(total_bytes=lambda: 0)


def _cpu_torch_as_cuda():
    import torch

    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.cuda.is_available = lambda: True
    torch.cuda.synchronize = lambda *args: None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    args = parser.parse_args(argv)
    _emulate_cupy()
    _cpu_torch_as_cuda()
    from bench import gpu

    gpu.SIZE = args.size
    return gpu.main(["--repeat", "1", "--batch", "4"])


if __name__ == "__main__":
    sys.exit(main())
