"""conv2d and max_pool2d on VGG16 shapes, forward and forward+backward, against PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.conv [--repeat 5] [--nchw]

minidl's input and output gradient are stored channels-last (as every minidl conv/pool output is, so this is what a
layer inside a network receives); ``--nchw`` feeds a plain NCHW-contiguous array instead.
PyTorch gets its native NCHW-contiguous tensors. float32, batch 16, bias included.
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl import Tensor, no_grad, ops

CONV_CASES = [(16, 64, 112, 64), (16, 256, 56, 256)]  # (batch, n_in, size, n_out), 3x3 pad 1
POOL_CASE = (16, 64, 112)


def _input(rng, shape, nchw):
    x = rng.standard_normal(shape, dtype=np.float32)
    if nchw:
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def conv_rows(bench, rng, nchw):
    torch = bench.torch
    for n, c, size, n_out in CONV_CASES:
        x = _input(rng, (n, c, size, size), nchw)
        W = rng.standard_normal((n_out, c, 3, 3), dtype=np.float32) * np.float32(np.sqrt(2 / (9 * c)))
        b = rng.standard_normal(n_out, dtype=np.float32)
        gy = _input(rng, (n, n_out, size, size), nchw)
        name = f"conv3x3 [{n},{c},{size},{size}]->{n_out}"

        def ours_fwd():
            with no_grad():
                ops.conv2d(x, W, b, padding=1)

        def ours_fwd_bwd():
            tx, tW, tb = (Tensor(a, requires_grad=True) for a in (x, W, b))
            ops.conv2d(tx, tW, tb, padding=1).backward(gy)

        theirs_fwd = theirs_fwd_bwd = None
        if torch:
            F = torch.nn.functional
            X, WW, B = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, W, b))
            GY = torch.from_numpy(np.ascontiguousarray(gy))

            def theirs_fwd():
                with torch.no_grad():
                    F.conv2d(X, WW, B, padding=1)

            def theirs_fwd_bwd():
                tx, tW, tb = (a.detach().requires_grad_() for a in (X, WW, B))
                F.conv2d(tx, tW, tb, padding=1).backward(GY)

        bench.compare(name + " fwd", ours_fwd, theirs_fwd)
        bench.compare(name + " fwd+bwd", ours_fwd_bwd, theirs_fwd_bwd)


def pool_rows(bench, rng, nchw):
    torch = bench.torch
    n, c, size = POOL_CASE
    x = _input(rng, (n, c, size, size), nchw)
    gy = _input(rng, (n, c, size // 2, size // 2), nchw)
    name = f"max_pool2d 2x2 [{n},{c},{size},{size}]"

    def ours_fwd():
        with no_grad():
            ops.max_pool2d(x, 2)

    def ours_fwd_bwd():
        tx = Tensor(x, requires_grad=True)
        ops.max_pool2d(tx, 2).backward(gy)

    theirs_fwd = theirs_fwd_bwd = None
    if torch:
        F = torch.nn.functional
        X, GY = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, gy))

        def theirs_fwd():
            with torch.no_grad():
                F.max_pool2d(X, 2)

        def theirs_fwd_bwd():
            tx = X.detach().requires_grad_()
            F.max_pool2d(tx, 2).backward(GY)

    bench.compare(name + " fwd", ours_fwd, theirs_fwd)
    bench.compare(name + " fwd+bwd", ours_fwd_bwd, theirs_fwd_bwd)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nchw", action="store_true", help="feed minidl NCHW-contiguous input")
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    rng = np.random.default_rng(0)
    conv_rows(bench, rng, args.nchw)
    pool_rows(bench, rng, args.nchw)
    bench.table()


if __name__ == "__main__":
    main()
