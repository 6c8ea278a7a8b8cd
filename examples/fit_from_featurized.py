"""DL4J's FitFromFeaturized: train the new output layer on saved fc2 features, 3 epochs.

Builds the same network as edit_last_layer_others_frozen.py (fc2 and below frozen, a new
``predictions``), then lets TransferLearningHelper train only its unfrozen part on the
features written by featurized_pre_save.py (which runs first if they are missing). Each epoch
costs a few matrix products instead of a VGG16 forward pass per image.

    python examples/fit_from_featurized.py [--small] [--features DIR] [--epochs N]
"""

import os
import sys

from _common import (NUM_CLASSES, example_parser, fit_with_evaluations, learning_rate, load_vgg16,
                     printer)
from edit_last_layer_others_frozen import build_transfer_model
from featurized_pre_save import add_features_option, featurize
from minidl import Nesterovs
from transfer import FeaturizedDataSetIterator, TransferLearningHelper


def main(argv=None):
    parser = example_parser(__doc__.split("\n")[0], learning_rate=3e-5)
    add_features_option(parser)
    args = parser.parse_args(argv)
    log = printer(args)
    n_epochs = args.epochs if args.epochs is not None else 3

    vgg16 = load_vgg16(args)
    vgg16_transfer = build_transfer_model(vgg16, NUM_CLASSES, args.seed,
                                          Nesterovs(learning_rate(args, 3e-5), 0.9))
    helper = TransferLearningHelper(vgg16_transfer)  # the frozen layers exist already
    log(helper.unfrozen_graph().summary())

    if not os.path.exists(os.path.join(args.features, "test", "manifest.json")):
        log(f"no featurized data in {args.features}: running featurized_pre_save first")
        featurize(args, log)
    train_iter = FeaturizedDataSetIterator(os.path.join(args.features, "train"))
    test_iter = FeaturizedDataSetIterator(os.path.join(args.features, "test"))

    before, after = fit_with_evaluations(helper.unfrozen_graph(), train_iter, test_iter, log,
                                         epochs=n_epochs, fit=helper.fit_featurized)
    return {"original": vgg16, "model": vgg16_transfer, "helper": helper, "before": before,
            "after": after}


if __name__ == "__main__":
    main()
    sys.exit(0)
