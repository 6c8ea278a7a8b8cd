"""DL4J's FitFromFeaturized: train the new output layer on saved fc2 features, 3 epochs.

Builds the same network as edit_last_layer_others_frozen.py (fc2 and below frozen, a new
``predictions``), then lets TransferLearningHelper train only its unfrozen part on the
features written by featurized_pre_save.py (which runs first if they are missing). Each epoch
costs a few matrix products instead of a VGG16 forward pass per image.

    python examples/fit_from_featurized.py [--small] [--features DIR] [--epochs N] [--model M]
"""

import os

from _common import (NUM_CLASSES, example_parser, feature_layer, fit_with_evaluations,
                     load_vgg16, printer, run)
from edit_last_layer_others_frozen import build_transfer_model
from featurized_pre_save import add_features_option, featurize, features_dir
from minidl import Nesterovs
from transfer import FeaturizedDataSetIterator, TransferLearningHelper

DL4J_LEARNING_RATE = 3e-5
DL4J_EPOCHS = 3  # DL4J's nEpochs: epochs on saved features are cheap


def build_parser():
    """The shared options with this example's DL4J defaults, plus --features."""
    parser = example_parser(__doc__.split("\n")[0], learning_rate=DL4J_LEARNING_RATE,
                            epochs=DL4J_EPOCHS, models=True)
    add_features_option(parser)
    return parser


def check_feature_classes(iterator):
    """Saved features of another data set (other classes) cannot train a NUM_CLASSES output."""
    label_shapes = iterator.manifest.get("label_shapes")
    if label_shapes and label_shapes[0] != [NUM_CLASSES]:
        raise ValueError(f"{iterator.directory}: the features have {label_shapes[0][0]} classes, "
                         f"the example needs NUM_CLASSES={NUM_CLASSES}: featurize {NUM_CLASSES} "
                         f"class folders (or choose another --features folder)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    log = printer(args)

    vgg16 = load_vgg16(args)
    vgg16_transfer = build_transfer_model(vgg16, NUM_CLASSES, args.seed,
                                          Nesterovs(args.learning_rate, 0.9), feature_layer(args))
    helper = TransferLearningHelper(vgg16_transfer)  # the frozen layers exist already
    log(helper.unfrozen_graph().summary())

    features = features_dir(args)
    if not os.path.exists(os.path.join(features, "test", "manifest.json")):
        log(f"no featurized data in {features}: running featurized_pre_save first")
        featurize(args, log, report=log)  # a step on the way here, not the outcome
    train_iter = FeaturizedDataSetIterator(os.path.join(features, "train"))
    test_iter = FeaturizedDataSetIterator(os.path.join(features, "test"))
    check_feature_classes(train_iter)

    before, after = fit_with_evaluations(helper.unfrozen_graph(), train_iter, test_iter, log,
                                         epochs=args.epochs, fit=helper.fit_featurized)
    return {"original": vgg16, "model": vgg16_transfer, "helper": helper, "before": before,
            "after": after}


if __name__ == "__main__":
    run(main)
