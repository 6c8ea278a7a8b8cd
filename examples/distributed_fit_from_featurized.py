"""DL4J's Spark FitFromFeaturized on Dask: featurize on the cluster, then train the head there.

The frozen part of VGG16 (fc2 and below) runs on the cluster's workers, which read the images
themselves and write the feature shards into a folder they all see; then the unfrozen part
(``helper.unfrozen_graph()``, the new ``predictions`` layer) trains with parameter averaging
(``ParameterAveragingTrainingMaster``, DL4J's settings: 16 examples per worker minibatch,
averaging every 5) on those shards, read by the workers too. The trained head is copied back
into the full network, which DL4J's example forgot to do.

    python examples/distributed_fit_from_featurized.py [--small] [--workers N | --scheduler A]

``--workers N`` starts a local cluster of N worker processes (one thread each);
``--scheduler ADDRESS`` (or a scheduler file) joins a running one, whose workers must see
``--features`` and the images at the same paths (docs/scaleout.md).
"""

import os

from _common import NUM_CLASSES, example_parser, flower_iterators, load_vgg16, printer, run
from edit_last_layer_others_frozen import build_transfer_model
from featurized_pre_save import add_features_option
from minidl import Nesterovs
from minidl.cli import positive
from minidl.scaleout import (DaskComputationGraph, ParameterAveragingTrainingMaster,
                             cluster_client)
from transfer import TransferLearningHelper, featurize_to_disk

DL4J_LEARNING_RATE = 3e-5
DL4J_EPOCHS = 3
DL4J_BATCH_SIZE_PER_WORKER = 16
DL4J_AVERAGING_FREQUENCY = 5
DL4J_PREFETCH = 2


def build_parser():
    parser = example_parser(__doc__.split("\n")[0], learning_rate=DL4J_LEARNING_RATE,
                            epochs=DL4J_EPOCHS)
    add_features_option(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive(int), default=2,
                       help="worker processes of a local cluster (default %(default)s)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler (tcp://host:8786 or a scheduler file)")
    parser.add_argument("--averaging-frequency", type=positive(int),
                        default=DL4J_AVERAGING_FREQUENCY,
                        help="minibatches each worker fits between averagings (default "
                             "%(default)s, as DL4J)")
    return parser


def featurize_on_cluster(client, helper, args, vgg16, log):
    """Write ``<features>/train`` and ``/test`` on the cluster (resumed when interrupted)."""
    folders = {}
    for part, iterator in zip(("train", "test"), flower_iterators(args, vgg16)):
        folders[part] = os.path.abspath(os.path.join(args.features, part))
        manifest = featurize_to_disk(helper, iterator, folders[part], client=client,
                                     progress=not args.quiet)
        log(f"{part}: {manifest['num_examples']} examples in {len(manifest['shards'])} shards "
            f"in {folders[part]}")
    return folders


def training_master(args):
    return (ParameterAveragingTrainingMaster.Builder(DL4J_BATCH_SIZE_PER_WORKER)
            .averaging_frequency(args.averaging_frequency)
            .worker_prefetch_num_batches(DL4J_PREFETCH)
            .batch_size_per_worker(DL4J_BATCH_SIZE_PER_WORKER)
            .rng_seed(args.seed).build())


def main(argv=None):
    args = build_parser().parse_args(argv)
    log = printer(args)
    vgg16 = load_vgg16(args)
    vgg16_transfer = build_transfer_model(vgg16, NUM_CLASSES, args.seed,
                                          Nesterovs(args.learning_rate, 0.9))
    helper = TransferLearningHelper(vgg16_transfer)
    workers = None if args.scheduler else args.workers
    with cluster_client(workers=workers, scheduler=args.scheduler) as client:
        folders = featurize_on_cluster(client, helper, args, vgg16, log)
        dask_graph = DaskComputationGraph(client, helper.unfrozen_graph(), training_master(args))
        before = dask_graph.evaluate(folders["test"])
        log("Eval stats BEFORE fit.....")
        log(before.stats())
        for epoch in range(args.epochs):
            dask_graph.fit(folders["train"])
            log(f"Epoch #{epoch} complete, score {dask_graph.get_score():.4f}")
        after = dask_graph.evaluate(folders["test"])
    helper.copy_unfrozen_back()  # the full network gets the trained head
    log(after.stats())
    print(f"Model build complete: test accuracy {after.accuracy():.4f} after "
          f"{dask_graph.get_network().get_iteration_count()} iterations")
    return {"original": vgg16, "model": vgg16_transfer, "helper": helper, "before": before,
            "after": after, "folders": folders}


if __name__ == "__main__":
    run(main)
