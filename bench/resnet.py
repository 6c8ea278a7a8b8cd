"""ResNet50 inference (zoo.ResNet50's graph, random weights), minidl vs PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.resnet [--batch 8 1] [--threads N]

minidl runs the network as users do, ``net.output_single(x)`` on the ComputationGraph of
``ResNet50().pretrained_conf`` (the Keras layout: zero-padding layers, convolutions, batch norms
and ReLUs as separate layers, residual adds as ElementWiseVertex). PyTorch runs the same
network in eager mode through its functional ops, with the same arrays: batch norm in inference
mode, the stride on each stage's first 1x1 conv. The outputs are compared, then both are timed,
alternating, with the same number of threads for each (one per core unless ``--threads``).
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl.nn.graph import ComputationGraph
from zoo.resnet import KERAS, STAGES, ResNet50


def random_resnet50(size, seed=0):
    """The pretrained layout at ``size`` x ``size`` with He weights and plausible batch-norm
    statistics; the residual branches' last batch norms scale by ~0.2 so that activations stay
    O(1) through the 16 blocks (as trained weights do)."""
    model = ResNet50(input_shape=(3, size, size), seed=seed)
    net = ComputationGraph(model.pretrained_conf(1000, include_top=True))
    rng = np.random.default_rng(seed)
    tables = {}
    for name, layer in net.layer_items():
        shapes = layer.param_shapes()
        if "W" in shapes:
            shape = shapes["W"]
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            tables[name] = {"W": rng.standard_normal(shape, np.float32) * np.float32(
                np.sqrt(2 / fan_in) if len(shape) == 4 else 0.01),
                "b": rng.uniform(-0.1, 0.1, shapes["b"]).astype(np.float32)}
        elif shapes:
            (c,) = shapes["gamma"]
            scale = (0.1, 0.3) if name.endswith("_3_bn") else (0.5, 1.5)
            tables[name] = {"gamma": rng.uniform(*scale, c), "beta": rng.uniform(-0.2, 0.2, c),
                            "mean": rng.normal(0, 0.2, c), "var": rng.uniform(0.5, 2.0, c)}
    return net.init_from_tables(tables)


def torch_forward(torch, x, p, train=False):
    """ResNet50 (Keras' variant) in PyTorch functional ops; ``p`` maps "<layer>_<param>" to
    tensors.
    ``train``: batch norm in training mode (batch statistics; the running ones in ``p`` are
    updated in place) and autograd on, as ``bench.train_step`` runs it."""
    F = torch.nn.functional

    def conv_bn(name, x, stride=1, padding=0):
        x = F.conv2d(x, p[f"{name}_conv_W"], p[f"{name}_conv_b"], stride, padding)
        return F.batch_norm(x, p[f"{name}_bn_mean"], p[f"{name}_bn_var"], p[f"{name}_bn_gamma"],
                            p[f"{name}_bn_beta"], train, 0.1, KERAS.bn_eps)

    with torch.set_grad_enabled(train):
        x = F.relu(conv_bn("conv1", F.pad(x, (3, 3, 3, 3)), 2))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)
        for stage, _, blocks, stride in STAGES:
            for block in range(1, blocks + 1):
                prefix, s = f"conv{stage}_block{block}", stride if block == 1 else 1
                shortcut = conv_bn(f"{prefix}_0", x, s) if block == 1 else x
                y = F.relu(conv_bn(f"{prefix}_1", x, s))
                y = F.relu(conv_bn(f"{prefix}_2", y, 1, 1))
                x = F.relu(shortcut + conv_bn(f"{prefix}_3", y))
        x = x.mean(dim=(2, 3))
        return torch.softmax(x @ p["predictions_W"] + p["predictions_b"], dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int,
                        help="limit BLAS and PyTorch to this many threads (needs threadpoolctl; "
                             "by default both use one per core: 2 on the 2-core dev machine)")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    torch = bench.torch
    net = random_resnet50(args.size)
    params = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
              net.param_table().items()} if torch else None
    rng = np.random.default_rng(1)
    for batch in args.batch:
        x = rng.uniform(-1, 1, (batch, 3, args.size, args.size)).astype(np.float32)
        theirs = None
        if torch:
            tx = torch.from_numpy(x)
            diff = np.abs(net.output_single(x) - torch_forward(torch, tx, params).numpy())
            print(f"batch {batch}: max |minidl - torch| on the softmax output: {diff.max():.2e}")

            def theirs():
                torch_forward(torch, tx, params)
        bench.compare(f"ResNet50 forward [{batch},3,{args.size},{args.size}]",
                      lambda: net.output_single(x), theirs)
    bench.table()


if __name__ == "__main__":
    main()
