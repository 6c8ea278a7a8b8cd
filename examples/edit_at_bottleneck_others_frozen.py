"""DL4J's EditAtBottleneckOthersFrozen: keep the conv blocks frozen, rebuild the dense top.

Freeze everything up to ``block5_pool`` (all convolutions), shrink ``fc2`` to 1024 units (its
weights and those of the layer it feeds are re-initialised), drop ``predictions``, and add a
new dense ``fc3`` (256, tanh) and a 5-class output ``newpredictions``. The fine-tune settings
(leaky ReLU, ReLU weight init, Nesterovs, dropout 0.5) apply to every original layer. The
trained model is saved (without updater state) for fine_tune_from_block_four.py.

    python examples/edit_at_bottleneck_others_frozen.py [--small] [--model FILE]
"""

from _common import (NUM_CLASSES, example_parser, fit_with_evaluations, flower_iterators,
                     load_vgg16, printer, probability, run)
from minidl import (Activation, DenseLayer, LossFunction, ModelSerializer, Nesterovs,
                    OutputLayer, WeightInit)
from transfer import FineTuneConfiguration, TransferLearning

FEATURE_EXTRACTION_LAYER = "block5_pool"
DL4J_LEARNING_RATE = 5e-5
DL4J_EPOCHS = 1


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


def build_parser():
    """The shared options with this example's DL4J defaults, plus --model and --dropout."""
    parser = example_parser(__doc__.split("\n")[0], learning_rate=DL4J_LEARNING_RATE,
                            epochs=DL4J_EPOCHS)
    parser.add_argument("--model", metavar="FILE", default="MyComputationGraph.zip",
                        help="where to save the trained model (default %(default)s)")
    # the tiny --small network's layers are too narrow to afford dropping half their inputs
    parser.add_dl4j_option("--dropout", 0.5, None, "probability to keep a unit",
                           type=probability)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    log = printer(args)
    vgg16 = load_vgg16(args)
    # --small: the tiny network's fc layers have 64 units, so the bottleneck shrinks with them
    sizes = (32, 16) if args.small else (1024, 256)
    vgg16_transfer = build_bottleneck_model(vgg16, NUM_CLASSES, args.seed,
                                            Nesterovs(args.learning_rate), args.dropout, *sizes)
    log(vgg16_transfer.summary())

    train_iter, test_iter = flower_iterators(args, vgg16_transfer)
    before, after = fit_with_evaluations(vgg16_transfer, train_iter, test_iter, log,
                                         epochs=args.epochs)
    ModelSerializer.write_model(vgg16_transfer, args.model, save_updater=False)
    print(f"Model saved to {args.model}")
    return {"original": vgg16, "model": vgg16_transfer, "before": before, "after": after,
            "path": args.model}


if __name__ == "__main__":
    run(main)
