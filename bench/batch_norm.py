"""Batch normalization in training mode (batch statistics), forward+backward, against PyTorch
CPU's ``F.batch_norm(..., training=True)``, on MobileNetV2 and ResNet50 shapes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.batch_norm [--repeat 5]
        [--torch-channels-last] [--threads N]

minidl's input and output gradient are stored channels-last, as a convolution's output inside a
network is (the sliced fast path of ``minidl.ops.batch_norm``). PyTorch gets NCHW-contiguous
tensors, or channels_last ones with ``--torch-channels-last``. float32, gamma and beta
trainable: what fine-tuning a network with unfrozen batch norms runs per layer and step.
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl import Tensor, ops

# (batch, channels, size): MobileNetV2's expanded block-1 and block-3 activations, its 14x14
# stage, and ResNet50's first stage
CASES = [(8, 96, 112), (8, 144, 56), (8, 384, 14), (8, 256, 56)]


def _channels_last(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def batch_norm_rows(bench, rng, torch_channels_last):
    torch = bench.torch
    for n, c, size in CASES:
        x, gy = (_channels_last(rng.standard_normal((n, c, size, size), dtype=np.float32))
                 for _ in range(2))
        gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
        mean, var = np.zeros(c, np.float32), np.ones(c, np.float32)

        def ours():
            tx, tg, tb = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
            ops.batch_norm(tx, tg, tb, mean, var, train=True).backward(gy)

        theirs = None
        if torch:
            F = torch.nn.functional
            fmt = torch.channels_last if torch_channels_last else torch.contiguous_format
            X, GY = (torch.from_numpy(np.ascontiguousarray(a)).contiguous(memory_format=fmt)
                     for a in (x, gy))
            G, B = torch.from_numpy(gamma), torch.from_numpy(beta)
            M, V = torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())

            def step(X=X, GY=GY, G=G, B=B, M=M, V=V):
                tx, tg, tb = (a.detach().requires_grad_() for a in (X, G, B))
                F.batch_norm(tx, M, V, tg, tb, training=True).backward(GY)
            theirs = step

        bench.compare(f"batch norm train fwd+bwd [{n},{c},{size},{size}]", ours, theirs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="give PyTorch channels_last tensors")
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    batch_norm_rows(bench, np.random.default_rng(0), args.torch_channels_last)
    bench.table()


if __name__ == "__main__":
    main()
