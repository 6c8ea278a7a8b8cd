"""DL4J's EditAtBottleneckOthersFrozen: keep the conv blocks frozen, rebuild the dense top.

Freeze everything up to ``block5_pool`` (all convolutions), shrink ``fc2`` to 1024 units (its
weights and those of the layer it feeds are re-initialised), drop ``predictions``, and add a
new dense ``fc3`` (256, tanh) and a 5-class output ``newpredictions``. The fine-tune settings
(leaky ReLU, ReLU weight init, Nesterovs, dropout 0.5) apply to every original layer. The
trained model is saved (without updater state) for fine_tune_from_block_four.py.

    python examples/edit_at_bottleneck_others_frozen.py [--small] [--model FILE]
"""

import sys

from _common import (epochs, NUM_CLASSES, example_parser, fit_with_evaluations, flower_iterators,
                     learning_rate, load_vgg16, printer)
from minidl import (Activation, DenseLayer, LossFunction, ModelSerializer, Nesterovs,
                    OutputLayer, WeightInit)
from transfer import FineTuneConfiguration, TransferLearning

FEATURE_EXTRACTION_LAYER = "block5_pool"


def build_bottleneck_model(vgg16, num_classes, seed, updater, dropout=0.5, fc2_size=1024,
                           fc3_size=256):
    fine_tune_conf = (FineTuneConfiguration.Builder()
                      .activation(Activation.LEAKYRELU)
                      .weight_init(WeightInit.RELU)
                      .updater(updater)
                      .dropout(dropout)  # DL4J's dropout is the probability to *keep* a unit
                      .seed(seed)
                      .build())
    return (TransferLearning.GraphBuilder(vgg16)
            .fine_tune_configuration(fine_tune_conf)
            .set_feature_extractor(FEATURE_EXTRACTION_LAYER)
            .n_out_replace("fc2", fc2_size, WeightInit.XAVIER)
            .remove_vertex_and_connections("predictions")
            .add_layer("fc3", DenseLayer(activation=Activation.TANH, n_in=fc2_size,
                                         n_out=fc3_size), "fc2")
            .add_layer("newpredictions", OutputLayer(
                loss=LossFunction.NEGATIVELOGLIKELIHOOD, activation=Activation.SOFTMAX,
                n_in=fc3_size, n_out=num_classes), "fc3")
            .set_outputs("newpredictions")
            .build())


def main(argv=None):
    parser = example_parser(__doc__.split("\n")[0], learning_rate=5e-5)
    parser.add_argument("--model", default="MyComputationGraph.zip",
                        help="where to save the trained model (default MyComputationGraph.zip)")
    parser.add_argument("--dropout", type=float, default=None,
                        help="probability to keep a unit (default 0.5 as DL4J; none with --small)")
    args = parser.parse_args(argv)
    log = printer(args)
    vgg16 = load_vgg16(args)
    # --small: the tiny network's fc layers have 64 units, so the bottleneck shrinks with them,
    # and layers that narrow cannot afford to drop half their inputs
    sizes = (32, 16) if args.small else (1024, 256)
    dropout = args.dropout if args.dropout is not None else (None if args.small else 0.5)
    vgg16_transfer = build_bottleneck_model(vgg16, NUM_CLASSES, args.seed,
                                            Nesterovs(learning_rate(args, 5e-5)), dropout, *sizes)
    log(vgg16_transfer.summary())

    train_iter, test_iter = flower_iterators(args, vgg16_transfer)
    before, after = fit_with_evaluations(vgg16_transfer, train_iter, test_iter, log,
                                         epochs=epochs(args))
    ModelSerializer.write_model(vgg16_transfer, args.model, save_updater=False)
    log(f"Model saved to {args.model}")
    return {"original": vgg16, "model": vgg16_transfer, "before": before, "after": after,
            "path": args.model}


if __name__ == "__main__":
    main()
    sys.exit(0)
