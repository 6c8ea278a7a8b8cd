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
import sys

from _common import epochs, example_parser, fit_with_evaluations, flower_iterators, learning_rate, printer
from minidl import ModelSerializer, Sgd
from transfer import FineTuneConfiguration, TransferLearning

FEATURE_EXTRACTION_LAYER = "block4_pool"


def main(argv=None):
    parser = example_parser(__doc__.split("\n")[0], learning_rate=1e-5)
    parser.add_argument("--model", default="MyComputationGraph.zip",
                        help="the model saved by edit_at_bottleneck_others_frozen.py")
    parser.add_argument("--output", default="MyComputationGraphFineTune.zip",
                        help="where to save the fine-tuned model")
    args = parser.parse_args(argv)
    log = printer(args)
    if not os.path.exists(args.model):
        parser.error(f"{args.model} does not exist: run edit_at_bottleneck_others_frozen.py "
                     f"first (with the same --small setting)")
    saved = ModelSerializer.restore_computation_graph(args.model)

    fine_tune_conf = (FineTuneConfiguration.Builder()
                      .updater(Sgd(learning_rate(args, 1e-5)))
                      .seed(args.seed)
                      .build())
    vgg16_transfer = (TransferLearning.GraphBuilder(saved)
                      .fine_tune_configuration(fine_tune_conf)
                      .set_feature_extractor(FEATURE_EXTRACTION_LAYER)
                      .build())
    log(vgg16_transfer.summary())

    train_iter, test_iter = flower_iterators(args, vgg16_transfer)
    before, after = fit_with_evaluations(vgg16_transfer, train_iter, test_iter, log,
                                         epochs=epochs(args))
    ModelSerializer.write_model(vgg16_transfer, args.output, save_updater=False)
    log(f"Model saved to {args.output}")
    return {"original": saved, "model": vgg16_transfer, "before": before, "after": after,
            "path": args.output}


if __name__ == "__main__":
    main()
    sys.exit(0)
