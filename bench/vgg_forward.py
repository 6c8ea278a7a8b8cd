"""A VGG16-shaped forward pass (random weights) under no_grad, minidl vs PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.vgg_forward [--batch 8]

13 convolutions 3x3 pad 1 + relu, 5 max pools 2x2, then dense 25088 -> 4096 -> 4096 -> 1000
(relu, relu, softmax), built from minidl ops directly, with the ReLUs inside the conv and dense
ops as minidl's layers run them. The same weights run through PyTorch's
functional ops; the outputs are compared, then both are timed, then the peak memory of a
forward alone is measured in a fresh process for each (``--only minidl|torch``).

The machine's limit, in the same run: the sgemm rate (a large float32 GEMM through NumPy's
BLAS, timed between the forwards, 2 FLOPs per multiply-add), and minidl's forward as a rate
of direct-convolution work: 15.47 G multiply-adds per 224x224 image (the "15.5 GFLOPs" VGG16
is usually quoted with), every conv and dense layer counted as a plain convolution or GEMM
does it; Winograd does fewer, so the rate can pass the sgemm rate. Both accountings are
printed: the issue's (15.47 G per image against the sgemm FLOP/s, which counts a multiply-add
as 2) and the consistent one (2 FLOPs per multiply-add on both sides, twice the percentage).
"""

import argparse
import time

import numpy as np

from bench.harness import Bench, peak_rss_mb, try_torch
from minidl import no_grad, ops

# (n_out of each conv in the block) for the five blocks; a 2x2 max pool ends every block.
BLOCKS = [(64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)]
DENSE = [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)]


def make_weights(rng):
    """He-initialised float32 weights (so activations neither vanish nor explode).

    Scaled in place: a temporary copy of the 25088 x 4096 matrix would dominate peak memory.
    """
    def he(shape, fan_in):
        w = rng.standard_normal(shape, dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / fan_in))
        return w

    convs, n_in = [], 3
    for block in BLOCKS:
        for n_out in block:
            convs.append((he((n_out, n_in, 3, 3), 9 * n_in), np.zeros(n_out, np.float32)))
            n_in = n_out
    dense = [(he((a, b), a), np.zeros(b, np.float32)) for a, b in DENSE]
    return convs, dense


def minidl_forward(x, convs, dense):
    with no_grad():
        layer = iter(convs)
        for block in BLOCKS:
            for _ in block:
                W, b = next(layer)
                # As ConvolutionLayer does: the ReLU applied inside the op, block by block.
                x = ops.conv2d(x, W, b, padding=1, activation="relu")
            x = ops.max_pool2d(x, 2)
        x = ops.flatten(x)  # NCHW order: channel, row, column (DL4J's CnnToFeedForward)
        for k, (W, b) in enumerate(dense[:-1]):
            x = ops.linear(x, W, b, activation="relu")
        return ops.softmax(ops.linear(x, *dense[-1])).data


def torch_forward(torch, x, convs, dense):
    F = torch.nn.functional
    with torch.no_grad():
        layer = iter(convs)
        for block in BLOCKS:
            for _ in block:
                W, b = next(layer)
                x = F.relu(F.conv2d(x, W, b, padding=1))
            x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        for k, (W, b) in enumerate(dense):
            x = x @ W + b
            x = F.relu(x) if k < len(dense) - 1 else F.softmax(x, dim=1)
        return x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["minidl", "torch"],
                        help="run one forward of one side and exit (for the memory measurement)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    convs, dense = make_weights(rng)
    x = rng.standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
    if args.only == "minidl":  # (without importing torch: its libraries would count too)
        minidl_forward(x, convs, dense)
        return
    torch = try_torch()
    if args.only == "torch":
        torch_forward(torch, torch.from_numpy(x), *_to_torch(torch, convs, dense))
        return

    bench = Bench(repeat=args.repeat, threads=args.threads)
    name = f"VGG16 forward [{args.batch},3,{args.size},{args.size}] no_grad"
    theirs = None
    if torch:
        t_convs, t_dense = _to_torch(torch, convs, dense)
        tx = torch.from_numpy(x)
        diff = np.abs(minidl_forward(x, convs, dense) - torch_forward(torch, tx, t_convs, t_dense).numpy())
        print(f"max |minidl - torch| on the softmax output: {diff.max():.2e}")

        def theirs():
            torch_forward(torch, tx, t_convs, t_dense)
    ours = bench.compare(name, lambda: minidl_forward(x, convs, dense), theirs)[1]
    sgemm = sgemm_rate(bench.repeat)
    macs = direct_macs(args.size)
    rate = macs * args.batch / ours
    print(f"sgemm rate {sgemm / 1e9:.0f} GFLOP/s; minidl's forward does {macs / 1e9:.2f} G "
          f"direct-convolution multiply-adds per image at {rate / 1e9:.0f} G/s: "
          f"{100 * rate / sgemm:.0f}% of the sgemm rate as issue 20 counts it, "
          f"{200 * rate / sgemm:.0f}% with 2 FLOPs per multiply-add on both sides")
    if not args.no_memory:
        extra = ["--batch", str(args.batch), "--size", str(args.size)]
        print(f"peak RSS of weights + one forward in a fresh process: minidl "
              f"{peak_rss_mb('bench.vgg_forward', '--only', 'minidl', *extra):.0f} MiB" +
              (f", torch {peak_rss_mb('bench.vgg_forward', '--only', 'torch', *extra):.0f} MiB"
               if torch else ""))
    bench.table()


def direct_macs(size=224):
    """Multiply-adds of one image's forward as direct convolutions and dense GEMMs do them
    (15.47 G at 224x224)."""
    macs, n_in, side = 0, 3, size
    for block in BLOCKS:
        for n_out in block:
            macs += side * side * 9 * n_in * n_out
            n_in = n_out
        side //= 2
    return macs + sum(a * b for a, b in DENSE)


def sgemm_rate(repeat, n=2048):
    """The best float32 GEMM rate of NumPy's BLAS on [n, n] @ [n, n], in FLOP/s, fastest of
    ``repeat`` runs (after one warm-up)."""
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / min(times[1:])


def _to_torch(torch, convs, dense):
    as_t = torch.from_numpy
    return ([(as_t(W), as_t(b)) for W, b in convs], [(as_t(W), as_t(b)) for W, b in dense])


if __name__ == "__main__":
    main()
