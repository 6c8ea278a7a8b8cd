"""DL4J's FeaturizedPreSave: run the frozen part of VGG16 once over the data, save the result.

Training a head on top of a frozen VGG16 spends almost all its time in the frozen layers, and
computes the same ``fc2`` activations every epoch. Compute them once: TransferLearningHelper
freezes the network up to ``fc2`` (in place), ``featurize_to_disk`` streams every batch
through the frozen part and writes one shard per batch (resumable, written atomically).
fit_from_featurized.py then trains on the shards in milliseconds per epoch.

    python examples/featurized_pre_save.py [--small] [--features DIR] [--model resnet50]
"""

import os

from _common import example_parser, feature_layer, flower_iterators, load_vgg16, printer, run
from transfer import TransferLearningHelper, featurize_to_disk

FEATURIZE_EXTRACTION_LAYER = "fc2"  # VGG16's, as DL4J; --model picks the model's own


def featurize(args, log=print, report=print):
    """Write ``<features>/train`` and ``<features>/test``; returns their manifests. Progress
    goes to ``log``, the files written to ``report``."""
    vgg16 = load_vgg16(args)
    layer = feature_layer(args)
    helper = TransferLearningHelper(vgg16, layer)
    log(vgg16.summary())
    train_iter, test_iter = flower_iterators(args, vgg16)
    manifests = {}
    for part, iterator in (("train", train_iter), ("test", test_iter)):
        folder = os.path.join(features_dir(args), part)
        manifests[part] = featurize_to_disk(helper, iterator, folder, progress=not args.quiet)
        report(f"{part}: {manifests[part]['num_examples']} examples featurized at "
               f"{layer} into {len(manifests[part]['shards'])} shards "
               f"in {folder}")
    return manifests


def add_features_option(parser):
    parser.add_argument("--features", metavar="DIR",
                        help="folder for the featurized data (train/ and test/ inside; "
                             "default flowers-fc2, or flowers-MODEL for another --model)")


def features_dir(args):
    """--features, or the default folder of --model's features (one per model: features of
    another model are refused, not mixed)."""
    model = getattr(args, "model", "vgg16")
    return args.features or ("flowers-fc2" if model == "vgg16" else f"flowers-{model}")


def build_parser():
    """The shared options (none for training), plus --features."""
    # it trains nothing: no --learning-rate, no --epochs
    parser = example_parser(__doc__.split("\n")[0], models=True)
    add_features_option(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return featurize(args, printer(args))


if __name__ == "__main__":
    run(main)
