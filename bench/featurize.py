"""Featurizing 224x224 images through VGG16, up to fc2 and up to block5_pool, vs PyTorch (issue 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.featurize [--batch 16] [--repeat 3]

The network is the pretrained layout (``VGG16().pretrained_conf``: input_1 ... block5_pool,
flatten, fc1, fc2, predictions) with random weights; the speed does not depend on their values.
minidl featurizes with ``TransferLearningHelper(graph, boundary).featurize(batch)``; PyTorch runs
the same layers with the same weights under ``no_grad`` in this process, one after the other
(bench.harness alternates them). Reported: images per second of each, and the ratio of times.

``vgg16_random_graph`` and ``RandomImages`` are shared with bench.transfer.
"""

import argparse

import numpy as np

from bench.harness import Bench
from minidl.data.dataset import DataSet
from minidl.data.iterators import ExistingDataSetIterator
from minidl.nn.graph import ComputationGraph
from transfer import TransferLearningHelper
from zoo import VGG16
from zoo.converters import VGG_BLOCKS


def vgg16_random_graph(n_classes=1000, seed=1234):
    """VGG16 in the pretrained layout (Keras vertex names), random weights, 224x224 input."""
    return ComputationGraph(VGG16(seed=seed).pretrained_conf(n_classes, include_top=True)).init()


class RandomImages:
    """``n`` random 224x224 BGR images, minus the VGG mean, in batches, made lazily batch by batch.

    Re-iterable (every pass gives the same batches: batch ``i`` is drawn from seed ``seed + i``)
    and never holds more than one batch, so the dataset can be far larger than memory.
    """

    def __init__(self, n, batch_size, n_classes=5, seed=0, size=224):
        self.n, self.batch_size, self.n_classes, self.seed, self.size = n, batch_size, n_classes, seed, size

    def __iter__(self):
        for i, start in enumerate(range(0, self.n, self.batch_size)):
            rng = np.random.default_rng(self.seed + i)
            m = min(self.batch_size, self.n - start)
            x = rng.uniform(-120, 140, (m, 3, self.size, self.size)).astype(np.float32)
            y = np.eye(self.n_classes, dtype=np.float32)[rng.integers(0, self.n_classes, m)]
            yield DataSet(x, y)

    def __len__(self):
        return -(-self.n // self.batch_size)

    def iterator(self):
        """A resettable minidl DataSetIterator over these batches."""
        return ExistingDataSetIterator(self)


def torch_vgg16_from(graph, torch):
    """Callables running PyTorch up to block5_pool and up to fc2 with ``graph``'s weights."""
    F = torch.nn.functional
    p = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in graph.param_table().items()}

    def to_block5_pool(x):
        for block, n_convs in enumerate(VGG_BLOCKS["vgg16"], 1):
            for k in range(1, n_convs + 1):
                name = f"block{block}_conv{k}"
                x = F.relu(F.conv2d(x, p[f"{name}_W"], p[f"{name}_b"], padding=1))
            x = F.max_pool2d(x, 2)
        return x

    def to_fc2(x):
        x = to_block5_pool(x).flatten(1)  # C, H, W order, as our flatten
        x = F.relu(x @ p["fc1_W"] + p["fc1_b"])  # dense W is [n_in, n_out]
        return F.relu(x @ p["fc2_W"] + p["fc2_b"])

    return {"block5_pool": to_block5_pool, "fc2": to_fc2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat)
    torch = bench.torch

    graph = vgg16_random_graph()
    # one helper per boundary: a helper freezes its graph in place, so each gets its own copy
    helpers = {"fc2": TransferLearningHelper(graph.clone(), "fc2"),
               "block5_pool": TransferLearningHelper(graph, "block5_pool")}
    batch = next(iter(RandomImages(args.batch, args.batch)))
    theirs = torch_vgg16_from(graph, torch) if torch else {}
    if torch:
        x_torch = torch.from_numpy(batch.features)
        got = helpers["fc2"].featurize(batch).features
        with torch.no_grad():
            want = theirs["fc2"](x_torch).numpy()
        print(f"fc2 features agree with PyTorch: max |diff| = {np.abs(got - want).max():.2e} "
              f"(max |value| {np.abs(want).max():.2e})")

    rates = []
    for boundary in ("fc2", "block5_pool"):
        helper = helpers[boundary]

        def ours(helper=helper):
            helper.featurize(batch)

        def torch_run(fn=theirs.get(boundary)):
            with torch.no_grad():
                fn(x_torch)

        name, t_ours, t_torch = bench.compare(f"featurize to {boundary}, batch {args.batch}", ours,
                                              torch_run if torch else None)
        rates.append((boundary, args.batch / t_ours, args.batch / t_torch if t_torch else None))
    bench.table()
    print("\nimages per second (224x224, VGG16)")
    for boundary, ours_rate, torch_rate in rates:
        line = f"  up to {boundary:<12} minidl {ours_rate:6.2f} img/s"
        if torch_rate:
            line += f"   torch {torch_rate:6.2f} img/s   minidl/torch speed {ours_rate / torch_rate:5.2f}"
        print(line)


if __name__ == "__main__":
    main()
