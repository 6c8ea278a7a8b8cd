"""MobileNetV2 inference (zoo.MobileNetV2's graph, random weights), minidl vs PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.mobilenet [--batch 8 1]
        [--threads N] [--torch-channels-last]

minidl runs the network as users do, ``net.output_single(x)`` on the ComputationGraph of
``MobileNetV2().pretrained_conf`` (the Keras layout: zero-padding layers, 1x1 convolutions,
depthwise convolutions, batch norms and ReLU6s as separate layers, residual adds as
ElementWiseVertex). PyTorch runs the same network in eager mode through its functional ops,
with the same arrays: batch norm in inference mode, TF "same" padding before the stride-2 3x3s
(grouped convolutions for the depthwise ones). The outputs are compared, then both are timed,
alternating, with the same number of threads for each (one per core unless ``--threads``).
PyTorch gets an NCHW-contiguous input, as torchvision's models take it, or with
``--torch-channels-last`` a channels_last one, which its convolutions then keep: the layout in
which its CPU depthwise convolutions are fastest (minidl's activations are channels-last
inside the network either way).
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl.nn.graph import ComputationGraph
from minidl.ops.depthwise import to_torch
from zoo.mobilenet import KERAS, MobileNetV2, block_specs


def random_mobilenetv2(size, seed=0):
    """The pretrained layout at ``size`` x ``size`` with He weights and plausible batch-norm
    statistics (the residual branches' last batch norms scale by ~0.3: activations stay O(1))."""
    model = MobileNetV2(input_shape=(3, size, size), seed=seed)
    net = ComputationGraph(model.pretrained_conf(1000, include_top=True))
    residual = {f"{prefix}project_BN" for prefix, n_in, _, n_out, stride in block_specs()
                if stride == 1 and n_in == n_out}
    rng = np.random.default_rng(seed)
    tables = {}
    for name, layer in net.layer_items():
        shapes = layer.param_shapes()
        if "W" in shapes:
            shape = shapes["W"]
            if name.endswith("depthwise"):
                fan_in = shape[0] * shape[1]
            else:
                fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            table = {"W": rng.standard_normal(shape, np.float32) * np.float32(
                np.sqrt(2 / fan_in) if len(shape) == 4 else 0.01)}
            if "b" in shapes:
                table["b"] = rng.uniform(-0.1, 0.1, shapes["b"]).astype(np.float32)
            tables[name] = table
        elif shapes:
            (c,) = shapes["gamma"]
            scale = (0.2, 0.4) if name in residual else (0.5, 1.5)
            tables[name] = {"gamma": rng.uniform(*scale, c), "beta": rng.uniform(-0.2, 0.2, c),
                            "mean": rng.normal(0, 0.2, c), "var": rng.uniform(0.5, 2.0, c)}
    return net.init_from_tables(tables)


def torch_forward(torch, x, p, train=False):
    """MobileNetV2 (Keras' variant) in PyTorch functional ops; ``p`` maps "<layer>_<param>" to
    tensors, depthwise W already in torch's [C, 1, 3, 3].
    ``train``: batch norm in training mode (batch statistics; the running ones in ``p`` are
    updated in place) and autograd on, as ``bench.train_step`` runs it."""
    F = torch.nn.functional

    def bn(name, x):
        return F.batch_norm(x, p[f"{name}_mean"], p[f"{name}_var"], p[f"{name}_gamma"],
                            p[f"{name}_beta"], train, 0.1, KERAS.bn_eps)

    def tf_pad(x):  # Keras' correct_pad / TF "same" before a 3x3 stride-2 window
        h, w = x.shape[2:]
        return F.pad(x, (w % 2, 1, h % 2, 1))

    with torch.set_grad_enabled(train):
        x = F.relu6(bn("bn_Conv1", F.conv2d(tf_pad(x), p["Conv1_W"], None, 2)))
        for prefix, _, expansion, _, stride in block_specs():
            y = x
            if expansion != 1:
                y = F.relu6(bn(f"{prefix}expand_BN", F.conv2d(y, p[f"{prefix}expand_W"])))
            w = p[f"{prefix}depthwise_W"]
            y = F.conv2d(tf_pad(y), w, None, 2, 0, groups=w.shape[0]) if stride == 2 else \
                F.conv2d(y, w, None, 1, 1, groups=w.shape[0])
            y = F.relu6(bn(f"{prefix}depthwise_BN", y))
            y = bn(f"{prefix}project_BN", F.conv2d(y, p[f"{prefix}project_W"]))
            x = x + y if y.shape == x.shape else y
        x = F.relu6(bn("Conv_1_bn", F.conv2d(x, p["Conv_1_W"])))
        x = x.mean(dim=(2, 3))
        return torch.softmax(x @ p["predictions_W"] + p["predictions_b"], dim=1)


def torch_params(torch, net):
    """The network's arrays as tensors, depthwise kernels in torch's layout."""
    return {k: torch.from_numpy(np.ascontiguousarray(to_torch(v) if k.endswith("depthwise_W")
                                                     else v))
            for k, v in net.param_table().items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int,
                        help="limit BLAS and PyTorch to this many threads (needs threadpoolctl; "
                             "by default both use one per core)")
    parser.add_argument("--torch-channels-last", action="store_true",
                        help="give PyTorch a channels_last input")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    torch = bench.torch
    net = random_mobilenetv2(args.size)
    params = torch_params(torch, net) if torch else None
    rng = np.random.default_rng(1)
    for batch in args.batch:
        x = rng.uniform(-1, 1, (batch, 3, args.size, args.size)).astype(np.float32)
        theirs = None
        if torch:
            tx = torch.from_numpy(x)
            if args.torch_channels_last:
                tx = tx.contiguous(memory_format=torch.channels_last)
            diff = np.abs(net.output_single(x) - torch_forward(torch, tx, params).numpy())
            print(f"batch {batch}: max |minidl - torch| on the softmax output: {diff.max():.2e}")
            theirs = lambda tx=tx: torch_forward(torch, tx, params)  # noqa: E731
        bench.compare(f"MobileNetV2 forward [{batch},3,{args.size},{args.size}]",
                      lambda: net.output_single(x), theirs)
    bench.table()


if __name__ == "__main__":
    main()
