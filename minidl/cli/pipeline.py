"""``minidl transfer MODEL --data DIR -o OUT.zip``: the whole transfer flow in one command.

Featurize the images through MODEL's frozen part (cached in ``--features DIR``, or a temporary
folder), fit a new head on the train part's features, evaluate it on the held-out part and save
the whole network with its class names and preprocessing: what ``featurize`` and
``fit-featurized`` do one after the other, with one progress display.
"""

import argparse
import contextlib
import os
import tempfile

from minidl.cli import options
from minidl.cli.checks import (check_data, check_layer_name, check_out_folder, check_output_file,
                               check_precision)
from minidl.cli.featurize import check_outputs, data_record, featurize_parts
from minidl.cli.images import image_iterators
from minidl.cli.models import model_from_args, save_model
from minidl.cli.training import default_layer, train_head, with_head


def add_transfer(commands, add):
    """The ``transfer`` command's parser."""
    transfer = add(commands, "transfer", help="featurize, fit a new head, evaluate and save",
                   description="Transfer learning in one command: featurize the images under "
                               "--data through MODEL frozen up to --layer, fit a new head on "
                               "the train part, evaluate it on the test part, save the whole "
                               "model (with its class names and preprocessing) to OUT.zip.")
    options.add_model_options(transfer)
    options.add_data_options(transfer)
    transfer.add_argument("-o", "--output", required=True, metavar="OUT.zip",
                          help="where to save the model")
    transfer.add_argument("--features", metavar="DIR",
                          help="keep the features there (reused by the next run on the same "
                               "model and images; default: a temporary folder)")
    transfer.add_argument("--overwrite", action="store_true",
                          help="replace features in --features made by another model")
    options.add_precision_option(transfer)
    options.add_cluster_options(transfer)
    options.add_head_options(transfer)
    options.add_training_outputs(transfer)
    transfer.set_defaults(run=cmd_transfer, check=options.check_head_options)


def cmd_transfer(args):
    from transfer import FeaturizedDataSetIterator, TransferLearningHelper
    from tqdm import tqdm
    _check(args)
    net = model_from_args(args)
    train_images, test_images = image_iterators(net, args)
    labels = train_images.get_labels()
    net = with_head(net, args.layer or default_layer(net, args), len(labels), args)
    helper = TransferLearningHelper(net)
    print(f"frozen up to {', '.join(helper.boundary_names())}; training "
          f"{sum(1 for _, l in net.layer_items() if not l.frozen)} layer(s) for {len(labels)} "
          f"classes")
    total = len(train_images) * (1 + args.epochs) + len(test_images)
    with _features_folder(args.features) as folder, \
            tqdm(total=total, desc="transfer", unit="batch", disable=args.quiet) as bar:
        featurize_parts(helper, (("train", train_images), ("test", test_images)), folder,
                        data_record(args), args, progress=bar)
        train, test = (FeaturizedDataSetIterator(os.path.join(folder, part))
                       for part in ("train", "test"))
        evaluation = train_head(helper, train, test, args, bar)
        normalizer = train.source_pre_processor()
    save_model(net, args.output, normalizer, labels)
    print(f"model saved to {args.output}")
    print(f"Evaluation of the test part ({evaluation.get_num_row_counter()} examples):")
    print(evaluation.stats())
    return 0


def _check(args):
    """Every path and name, before a model is loaded (maybe downloaded)."""
    check_data(args)
    check_output_file(args.output)
    check_outputs(args)
    check_layer_name(args)
    check_precision(args)
    if args.features:
        check_out_folder(argparse.Namespace(data=args.data, out=args.features), "--features")


@contextlib.contextmanager
def _features_folder(path):
    """``path`` (kept), or a temporary folder removed at the end."""
    if path:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="minidl-features-") as folder:
        yield folder
