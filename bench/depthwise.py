"""depthwise_conv2d on MobileNetV2 shapes, forward and forward+backward, against PyTorch CPU's
``F.conv2d(..., groups=C)``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.depthwise [--repeat 5]
        [--nchw] [--torch-channels-last] [--threads N]

minidl's input and output gradient are stored channels-last, as a layer inside a network
receives them; ``--nchw`` feeds a plain NCHW-contiguous array instead. PyTorch gets NCHW-
contiguous tensors, or channels_last ones with ``--torch-channels-last`` (its faster layout
for depthwise convolutions on the CPU). float32, 3x3 kernels, padding 1 as torchvision's
MobileNetV2 has them, no bias (MobileNetV2's depthwise layers have none: BN follows).
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl import Tensor, no_grad, ops
from minidl.ops.depthwise import to_torch

# (batch, channels, size, stride): blocks 2 (stride 1) and 3 (stride 2) of MobileNetV2 at 224,
# block 1's stride-2 layer at 112, and block 16's at 7.
CASES = [(8, 144, 56, 1), (8, 144, 56, 2), (8, 96, 112, 2), (8, 960, 7, 1)]


def _input(rng, shape, nchw):
    x = rng.standard_normal(shape, dtype=np.float32)
    if nchw:
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def depthwise_rows(bench, rng, nchw, torch_channels_last):
    torch = bench.torch
    for n, c, size, stride in CASES:
        x = _input(rng, (n, c, size, size), nchw)
        W = rng.standard_normal((3, 3, c, 1), dtype=np.float32) * np.float32(1 / 3)
        out = (size + 2 - 3) // stride + 1
        gy = _input(rng, (n, c, out, out), nchw)
        name = f"dw3x3/{stride} [{n},{c},{size},{size}]"

        def ours_fwd():
            with no_grad():
                ops.depthwise_conv2d(x, W, stride=stride, padding=1)

        def ours_fwd_bwd():
            tx, tW = Tensor(x, requires_grad=True), Tensor(W, requires_grad=True)
            ops.depthwise_conv2d(tx, tW, stride=stride, padding=1).backward(gy)

        theirs_fwd = theirs_fwd_bwd = None
        if torch:
            F = torch.nn.functional
            fmt = torch.channels_last if torch_channels_last else torch.contiguous_format
            X = torch.from_numpy(np.ascontiguousarray(x)).contiguous(memory_format=fmt)
            GY = torch.from_numpy(np.ascontiguousarray(gy)).contiguous(memory_format=fmt)
            WT = torch.from_numpy(np.ascontiguousarray(to_torch(W)))

            def theirs_fwd():
                with torch.no_grad():
                    F.conv2d(X, WT, stride=stride, padding=1, groups=c)

            def theirs_fwd_bwd():
                tx, tW = X.detach().requires_grad_(), WT.detach().requires_grad_()
                F.conv2d(tx, tW, stride=stride, padding=1, groups=c).backward(GY)

        bench.compare(name + " fwd", ours_fwd, theirs_fwd)
        bench.compare(name + " fwd+bwd", ours_fwd_bwd, theirs_fwd_bwd)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nchw", action="store_true", help="feed minidl NCHW-contiguous input")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="give PyTorch channels_last tensors")
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    depthwise_rows(bench, np.random.default_rng(0), args.nchw, args.torch_channels_last)
    bench.table()


if __name__ == "__main__":
    main()
