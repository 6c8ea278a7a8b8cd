"""Scale-out on Dask, measured on this machine: featurization throughput on 1 and 2 worker
processes against one process, and the per-round cost of parameter averaging.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.scaleout [--part featurize|rounds]

Featurization: ``--images`` random 224x224 PNG files in class folders, read and decoded by
the workers (``featurize_to_disk(..., client=...)``) through VGG16 (random weights, pretrained
layout) to ``fc2``, against the single-process run with 2 BLAS threads. Workers run one
thread each (the nanny sets ``OPENBLAS_NUM_THREADS=1``).

Averaging rounds (2 workers, ``averaging_frequency`` 1, 16 examples per worker minibatch,
SGD): the round time against the time one worker thread needs to fit its minibatch here; the
difference is what parameter averaging costs per round (broadcast, task overhead, results, tree
sum, writing back). Two networks: the FitFromFeaturized head (``predictions``, 4096 -> 5) and
the VGG16 top on block5_pool features (fc1, fc2, predictions: 123.6 M parameters, 494 MB).
The load of the machine (``uptime``) is printed with the figures: other jobs share the cores.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np


def _uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _write_images(root, n, classes=4, size=224):
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = os.path.join(root, f"class{i % classes}")
        os.makedirs(folder, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"img{i:04d}.png"))


def _image_iterator(root, batch):
    from minidl.data.normalizers import VGG16ImagePreProcessor
    from minidl.data.records import (FileSplit, ImageRecordReader, ParentPathLabelGenerator,
                                     RecordReaderDataSetIterator)
    reader = ImageRecordReader(224, 224, 3, ParentPathLabelGenerator())
    reader.initialize(FileSplit(root, ["png"]))
    iterator = RecordReaderDataSetIterator(reader, batch, 1, reader.num_labels())
    iterator.set_pre_processor(VGG16ImagePreProcessor())
    return iterator


def _featurize_seconds(helper, root, batch, out, client=None):
    from transfer import featurize_to_disk
    start = time.perf_counter()
    featurize_to_disk(helper, _image_iterator(root, batch), out, progress=False, client=client)
    return time.perf_counter() - start


def bench_featurize(args):
    """Best img/s of each setup over ``--repeat`` rounds, the setups taking turns (a busy spell
    of the shared machine then hits all of them)."""
    import contextlib
    from threadpoolctl import threadpool_limits
    from bench.featurize import vgg16_random_graph
    from minidl.scaleout import cluster_client
    from transfer import TransferLearningHelper
    helper = TransferLearningHelper(vgg16_random_graph(), "fc2")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp, contextlib.ExitStack() as stack:
        root = os.path.join(tmp, "images")
        _write_images(root, args.images)
        setups = {"one process, 2 BLAS threads": None}
        for workers in (1, 2):
            setups[f"{workers} worker process(es) x 1 thread"] = stack.enter_context(
                cluster_client(workers=workers))
        best = dict.fromkeys(setups, float("inf"))
        for attempt in range(args.repeat + 1):  # attempt 0 warms up: network sent, imports
            for name, client in setups.items():
                out = os.path.join(tmp, f"{len(best)}-{attempt}-{name[0]}")
                with threadpool_limits(2):
                    seconds = _featurize_seconds(helper, root, args.batch, out, client)
                if attempt:
                    best[name] = min(best[name], seconds)
        print(f"featurize {args.images} PNG 224x224 -> VGG16 fc2, batch {args.batch}, best of "
              f"{args.repeat}  [{_uptime()}]")
        single = best["one process, 2 BLAS threads"]
        for name, seconds in best.items():
            print(f"  {name:<34}: {args.images / seconds:6.2f} img/s "
                  f"({single / seconds:.2f}x one process)")


def _head(n_in, sizes, seed=1):
    """A dense network n_in -> sizes[:-1] (ReLU) -> softmax sizes[-1], SGD."""
    from minidl import (Activation, DenseLayer, InputType, LossFunction, MultiLayerNetwork,
                        NeuralNetConfiguration, OutputLayer, Sgd)
    builder = NeuralNetConfiguration.Builder().seed(seed).updater(Sgd(1e-3)).list()
    for size in sizes[:-1]:
        builder = builder.layer(DenseLayer(n_out=size, activation=Activation.RELU))
    builder = builder.layer(OutputLayer(n_out=sizes[-1], activation=Activation.SOFTMAX,
                                        loss=LossFunction.MCXENT))
    return MultiLayerNetwork(builder.set_input_type(InputType.feed_forward(n_in)).build()).init()


def _data(n, n_in, n_out):
    from minidl import DataSet
    rng = np.random.default_rng(0)
    return DataSet(rng.standard_normal((n, n_in), dtype=np.float32),
                   np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, n)])


def _local_step_seconds(net, batch, repeat=3):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):  # as a worker process runs
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            net.fit(batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_rounds(args):
    from minidl.scaleout import (DaskMultiLayerNetwork, ParameterAveragingTrainingMaster,
                                 cluster_client)
    cases = (("FitFromFeaturized head 4096->5", 4096, (5,)),
             ("VGG16 top fc1/fc2/predictions", 25088, (4096, 4096, 1000)))
    with cluster_client(workers=2) as client:
        for name, n_in, sizes in cases:
            net = _head(n_in, sizes)
            data = _data(16 * 2 * (args.rounds + 1), n_in, sizes[-1])
            step = _local_step_seconds(_head(n_in, sizes), data.get_range(0, 16))
            master = ParameterAveragingTrainingMaster.Builder(16).batch_size_per_worker(16) \
                .averaging_frequency(1).num_workers(2).build()
            DaskMultiLayerNetwork(client, net, master).fit([data])
            rounds = master.round_times[1:]  # the first round also warms the workers up
            per_round = statistics.median(rounds)
            print(f"{name}: {net.num_params() / 1e6:.2f} M params, "
                  f"{net.num_params() * 4 / 2 ** 20:.0f} MiB; round {per_round * 1e3:.0f} ms, "
                  f"one worker's minibatch {step * 1e3:.0f} ms, averaging overhead "
                  f"{(per_round - step) * 1e3:.0f} ms/round  [{_uptime()}]", flush=True)
            del net, data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("featurize", "rounds", "all"), default="all")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tmp", default=None, help="folder for the images and shards")
    args = parser.parse_args(argv)
    if args.part in ("featurize", "all"):
        bench_featurize(args)
    if args.part in ("rounds", "all"):
        bench_rounds(args)


if __name__ == "__main__":
    main()
