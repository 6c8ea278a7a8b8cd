"""Transfer learning on a VGG16-shaped graph: frozen fit vs featurize once (issue 4).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.transfer [--quick]

The seed example's edit on random VGG16 weights (full 224x224 shapes): ``fc2`` and everything
below it frozen, ``predictions`` replaced by a 5-class OutputLayer. Two ways to train the head
on the same 64 images (batches of 16), for 1 and for 10 epochs:

* frozen: ``net.fit(iterator)`` each epoch; every epoch pushes the images through the frozen
  layers again (in inference mode, without a graph);
* featurized: ``TransferLearningHelper(net).featurize`` once, then ``fit_featurized`` per epoch,
  which only trains the head on the stored fc2 activations.

Then peak memory of ``featurize_to_disk`` over 512 images vs 64 images (same batch), each in a
fresh process: it must be bounded by the batch, not the dataset, so the two should be about equal.
``--quick``: 16 images, 1 and 3 epochs, memory for 128 vs 16 images.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from bench.featurize import RandomImages, vgg16_random_graph
from bench.harness import blas_report, try_torch
from bench.zoo_load import peak_rss_bytes, reset_peak_rss
from minidl.data.iterators import ExistingDataSetIterator
from minidl.learning.updaters import Nesterovs
from minidl.nn.conf import OutputLayer
from minidl.nn.conf.enums import Activation, LossFunction, OptimizationAlgorithm
from minidl.nn.conf.weight_init import WeightInit
from transfer import FineTuneConfiguration, TransferLearning, TransferLearningHelper, featurize_to_disk

MB = 1024 * 1024
N_CLASSES = 5


def seed_edit(graph, seed=12345):
    """The seed example: freeze up to fc2, replace predictions by a 5-class OutputLayer."""
    ftc = (FineTuneConfiguration.Builder()
           .optimization_algo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
           .updater(Nesterovs(5e-5)).seed(seed).build())
    return (TransferLearning.GraphBuilder(graph).fine_tune_configuration(ftc)
            .set_feature_extractor("fc2")
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=4096,
                                                  n_out=N_CLASSES, weight_init=WeightInit.XAVIER,
                                                  activation=Activation.SOFTMAX), "fc2")
            .build())


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_training(net, images, epochs):
    """Per-epoch seconds of the frozen fit, the featurization time, per-epoch featurized seconds."""
    frozen = [timed(lambda: net.fit(images.iterator()))[0] for _ in range(epochs)]
    helper = TransferLearningHelper(net)  # the frozen layers are already marked
    featurize_s, featurized = timed(lambda: [helper.featurize(batch) for batch in images])
    head = [timed(lambda: helper.fit_featurized(ExistingDataSetIterator(featurized)))[0]
            for _ in range(epochs)]
    return frozen, featurize_s, head


def featurize_child(n_images, batch, directory):
    """In a fresh process: featurize ``n_images`` to disk; print time and peak memory."""
    net = seed_edit(vgg16_random_graph())
    # the peak so far is building the network (random init); measure the featurization alone
    before = reset_peak_rss()
    seconds, manifest = timed(lambda: featurize_to_disk(
        TransferLearningHelper(net), RandomImages(n_images, batch).iterator(), directory,
        progress=False))
    print(json.dumps({"seconds": seconds, "peak": peak_rss_bytes(), "before": before,
                      "examples": manifest["num_examples"]}))


def featurize_memory(n_images, batch):
    with tempfile.TemporaryDirectory(prefix="minidl-featurized-") as directory:
        out = subprocess.run([sys.executable, "-m", "bench.transfer", "--child", str(n_images),
                              str(batch), directory], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["examples"] == n_images
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (about a fifth)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return featurize_child(int(args.child[0]), int(args.child[1]), args.child[2])
    print("\n".join(blas_report(try_torch())))
    n_images, batch = (16, 16) if args.quick else (64, 16)
    epochs = 3 if args.quick else 10
    small, large = (16, 128) if args.quick else (64, 512)

    net = seed_edit(vgg16_random_graph())
    images = RandomImages(n_images, batch, N_CLASSES)
    print(f"training the head of VGG16 (fc2 frozen) on {n_images} images, batch {batch}, "
          f"{epochs} epochs ...", flush=True)
    frozen, featurize_s, head = time_training(net, images, epochs)
    frozen_epoch, head_epoch = statistics.median(frozen), statistics.median(head)
    print(f"\n{'':<28}{'1 epoch':>12}{f'{epochs} epochs':>14}")
    print(f"{'fit, fc2 frozen':<28}{frozen[0]:>11.2f}s{sum(frozen):>13.2f}s")
    print(f"{'featurize + fit_featurized':<28}{featurize_s + head[0]:>11.2f}s"
          f"{featurize_s + sum(head):>13.2f}s   (featurize once: {featurize_s:.2f} s)")
    print(f"featurized epoch / frozen epoch: {head_epoch * 1e3:.2f} ms / {frozen_epoch:.2f} s = "
          f"{head_epoch / frozen_epoch:.4%}   (goal < 1%)")

    print(f"\nfeaturize_to_disk peak memory (fresh process each, batch {batch}) ...", flush=True)
    rows = [(n, featurize_memory(n, batch)) for n in (small, large)]
    for n, r in rows:
        print(f"  {n:4d} images: peak {r['peak'] / MB:7.0f} MiB ({(r['peak'] - r['before']) / MB:5.0f} "
              f"MiB above the built network's {r['before'] / MB:.0f} MiB), {r['seconds']:6.1f} s")
    ratio = rows[1][1]["peak"] / rows[0][1]["peak"]
    print(f"  peak({large}) / peak({small}) = {ratio:.2f}   (bounded by the batch: about 1)")


if __name__ == "__main__":
    main()
