"""Where VGG16's forward spends its time, layer by layer, minidl vs PyTorch CPU (issue 20).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.vgg_layers [--batch 8]
        [--repeat 3] [--threads N]

Every layer of ``bench.vgg_forward``'s network runs on its own, alternating with PyTorch's, on
the activations the layers before it produced (fastest of ``--repeat`` runs). Each convolution
row names the path minidl took (``conv.choose_algorithm``; for Winograd the tiling,
``winograd.choose_tiling``) and splits minidl's time into its stages: building im2col columns,
Winograd's kernel, input and output transforms (each with its bias and activation pass), and
the rest, which is the GEMMs (with the bias and activation pass for im2col) and the overheads.
The stage times come from wrapping those functions for one extra run of each layer; the
totals come from the alternating runs, unwrapped.
"""

import argparse
import contextlib
import time

import numpy as np

from bench.harness import Bench
from bench.vgg_forward import BLOCKS, DENSE, make_weights
from minidl import no_grad, ops
from minidl.ops import conv, winograd
from minidl.ops.window import Window

STAGES = {  # (owner, function name) -> the stage it is counted in
    (Window, "im2col"): "im2col",
    (winograd, "kernel_transform"): "kernel",
    (winograd, "_transform_input"): "in",
    (winograd, "_transform_output"): "out",
}


@contextlib.contextmanager
def stage_times():
    """Wrap the stage functions; yields {stage: seconds} filled while the block runs."""
    seconds, saved = {}, {}

    def timed(stage, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
        return wrapper

    for (owner, name), stage in STAGES.items():
        saved[owner, name] = getattr(owner, name)
        setattr(owner, name, timed(stage, saved[owner, name]))
    try:
        yield seconds
    finally:
        for (owner, name), fn in saved.items():
            setattr(owner, name, fn)


def path_of(x, W):
    """The forward path minidl takes for a 3x3 pad-1 convolution of ``x`` with ``W``."""
    window = Window("conv2d", x.shape, 3, 1, 1)
    forward = conv.choose_algorithm(window, W.shape[0], x.dtype, "cpu").forward
    if forward is not conv.winograd_forward:
        return forward.__name__.replace("_forward", "")
    tiling = winograd.choose_tiling(x.shape[0], window.oh, window.ow, x.shape[1], W.shape[0])
    return f"winograd F({tiling.m}x{tiling.m})"


def layers(convs, dense):
    """(name, minidl op, torch op) for every layer, in order; the ops take the previous output."""
    rows, layer = [], iter(convs)
    for b, block in enumerate(BLOCKS, 1):
        for k in range(1, len(block) + 1):
            W, bias = next(layer)
            rows.append((f"conv{b}_{k}", ("conv", W, bias)))
        rows.append((f"pool{b}", ("pool",)))
    for k, (W, bias) in enumerate(dense, 6):
        rows.append((f"fc{k}", ("dense", W, bias, k < 6 + len(DENSE) - 1)))
    return rows


def minidl_op(spec):
    kind = spec[0]
    if kind == "conv":
        return lambda x: ops.conv2d(x, spec[1], spec[2], padding=1, activation="relu").data
    if kind == "pool":
        return lambda x: ops.max_pool2d(x, 2).data
    W, bias, relu = spec[1:]
    return lambda x: ops.linear(ops.flatten(x), W, bias,
                                activation="relu" if relu else None).data


def torch_op(torch, spec):
    F = torch.nn.functional
    kind = spec[0]
    if kind == "conv":
        W, bias = torch.from_numpy(spec[1]), torch.from_numpy(spec[2])
        return lambda x: F.relu(F.conv2d(x, W, bias, padding=1))
    if kind == "pool":
        return lambda x: F.max_pool2d(x, 2)
    W, bias, relu = torch.from_numpy(spec[1]), torch.from_numpy(spec[2]), spec[3]
    return lambda x: (F.relu if relu else (lambda z: z))(x.flatten(1) @ W + bias)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    convs, dense = make_weights(rng)
    x = rng.standard_normal((args.batch, 3, 224, 224), dtype=np.float32)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    torch = bench.torch
    tx = torch.from_numpy(x) if torch else None
    splits = []
    with no_grad():
        for name, spec in layers(convs, dense):
            ours = minidl_op(spec)
            path = path_of(x, spec[1]) if spec[0] == "conv" else spec[0]
            theirs = None
            if torch:
                theirs_op = torch_op(torch, spec)
                theirs = (lambda op, inp: lambda: op(inp))(theirs_op, tx)
            total = bench.compare(f"{name} {path}", (lambda inp: lambda: ours(inp))(x), theirs)[1]
            with stage_times() as seconds:
                y = ours(x)
            splits.append((name, total, seconds))
            x, tx = y, (theirs_op(tx) if torch else None)
    bench.table()
    print("\nminidl's time by stage (ms; 'rest' is the GEMMs, bias + activation and overheads)")
    for name, total, seconds in splits:
        parts = "  ".join(f"{stage} {1e3 * t:6.1f}" for stage, t in sorted(seconds.items()))
        rest = total - sum(seconds.values())
        print(f"  {name:8s} total {1e3 * total:7.1f}  {parts}  rest {1e3 * max(rest, 0):6.1f}")


if __name__ == "__main__":
    main()
