"""DL4J's FineTuneFromBlockFour: fine-tune block 5 of the model saved by the bottleneck example.

Restores ``MyComputationGraph.zip`` (written by edit_at_bottleneck_others_frozen.py), freezes
only up to ``block4_pool`` so that block 5 trains too, and fits with plain SGD at a small
learning rate: a fine-tune, not a re-train. Saves ``MyComputationGraphFineTune.zip``.

Frozen layers are saved with the model (as in newer DL4J), so the restored model has block 5
frozen; ``set_feature_extractor`` freezes exactly up to block4_pool, so block 5 trains again,
which is what DL4J's example means (see docs/differences-from-dl4j.md).

    python examples/fine_tune_from_block_four.py [--small] [--model FILE] [--output FILE]
"""

import os

from _common import example_parser, fit_with_evaluations, flower_iterators, printer, run
from minidl import ModelSerializer, Sgd
from transfer import FineTuneConfiguration, TransferLearning

FEATURE_EXTRACTION_LAYER = "block4_pool"
DL4J_LEARNING_RATE = 1e-5
DL4J_EPOCHS = 1


def build_parser():
    """The shared options (no --weights) with DL4J's defaults, plus --model and --output."""
    # it starts from a saved model, not from the zoo's VGG16: no --weights
    parser = example_parser(__doc__.split("\n")[0], learning_rate=DL4J_LEARNING_RATE,
                            epochs=DL4J_EPOCHS, weights=False)
    parser.add_argument("--model", metavar="FILE", default="MyComputationGraph.zip",
                        help="the model saved by edit_at_bottleneck_others_frozen.py "
                             "(default %(default)s)")
    parser.add_argument("--output", metavar="FILE", default="MyComputationGraphFineTune.zip",
                        help="where to save the fine-tuned model (default %(default)s)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    log = printer(args)
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"{args.model} does not exist: run "
                                f"edit_at_bottleneck_others_frozen.py first (with the same "
                                f"--small setting)")
    saved = ModelSerializer.restore_computation_graph(args.model)

    fine_tune_conf = (FineTuneConfiguration.Builder()
                      .updater(Sgd(args.learning_rate))
                      .seed(args.seed)
                      .build())
    vgg16_transfer = (TransferLearning.GraphBuilder(saved)
                      .fine_tune_configuration(fine_tune_conf)
                      .set_feature_extractor(FEATURE_EXTRACTION_LAYER)
                      .build())
    log(vgg16_transfer.summary())

    train_iter, test_iter = flower_iterators(args, vgg16_transfer)
    before, after = fit_with_evaluations(vgg16_transfer, train_iter, test_iter, log,
                                         epochs=args.epochs)
    ModelSerializer.write_model(vgg16_transfer, args.output, save_updater=False)
    print(f"Model saved to {args.output}")
    return {"original": saved, "model": vgg16_transfer, "before": before, "after": after,
            "path": args.output}


if __name__ == "__main__":
    run(main)
