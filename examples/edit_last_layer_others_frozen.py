"""DL4J's EditLastLayerOthersFrozen: VGG16 with a new 5-class output, everything else frozen.

The ImageNet VGG16 already knows edges, textures and object parts; only its 1000-class output
is wrong for flowers. So: freeze every layer up to and including ``fc2``, replace
``predictions`` with a fresh 5-class softmax output, and train that one layer. DL4J reports
> 75% test accuracy after 30 iterations (450 images).

    python examples/edit_last_layer_others_frozen.py            # VGG16 + flower photos
    python examples/edit_last_layer_others_frozen.py --small    # tiny stand-ins, seconds
    python examples/edit_last_layer_others_frozen.py --model mobilenetv2   # or resnet50, vgg19:
                                             # frozen up to their global pooling (VGG19: fc2)
"""

from _common import (NUM_CLASSES, example_parser, feature_layer, fit_with_evaluations,
                     flower_iterators, load_vgg16, printer, run)
from minidl import (Activation, LossFunction, Nesterovs, NormalDistribution,
                    OptimizationAlgorithm, OutputLayer)
from transfer import FineTuneConfiguration, TransferLearning

FEATURE_EXTRACTION_LAYER = "fc2"  # VGG16's, as DL4J; --model picks the model's own
DL4J_LEARNING_RATE = 5e-5
DL4J_EPOCHS = 1  # DL4J makes one pass over the training data


def build_transfer_model(vgg16, num_classes, seed, updater, layer=FEATURE_EXTRACTION_LAYER):
    """Freeze up to ``layer`` (fc2) and put a new ``predictions`` output layer on top (the DL4J
    recipe)."""
    fine_tune_conf = (FineTuneConfiguration.Builder()
                      .optimization_algo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
                      .updater(updater)
                      .seed(seed)
                      .build())
    n_in = vgg16.vertex_types()[layer].flat_size()  # 4096 for VGG16's fc2
    return (TransferLearning.GraphBuilder(vgg16)
            .fine_tune_configuration(fine_tune_conf)
            .set_feature_extractor(layer)
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions",
                       OutputLayer.Builder(LossFunction.NEGATIVELOGLIKELIHOOD)
                       .nIn(n_in).nOut(num_classes)
                       # DL4J's comment: this distribution "gave better results than Xavier"
                       .weightInit(NormalDistribution(0, 0.2 * (2.0 / (n_in + num_classes))))
                       .activation(Activation.SOFTMAX).build(),
                       layer)
            .build())


def build_parser():
    """The shared options, with this example's DL4J learning rate and epochs."""
    return example_parser(__doc__.split("\n")[0], learning_rate=DL4J_LEARNING_RATE,
                          epochs=DL4J_EPOCHS, models=True)


def main(argv=None):
    args = build_parser().parse_args(argv)
    log = printer(args)
    vgg16 = load_vgg16(args)
    log(vgg16.summary())

    vgg16_transfer = build_transfer_model(vgg16, NUM_CLASSES, args.seed,
                                          Nesterovs(args.learning_rate), feature_layer(args))
    log(vgg16_transfer.summary())

    train_iter, test_iter = flower_iterators(args, vgg16_transfer)
    before, after = fit_with_evaluations(vgg16_transfer, train_iter, test_iter, log,
                                         epochs=args.epochs)
    return {"original": vgg16, "model": vgg16_transfer, "before": before, "after": after}


if __name__ == "__main__":
    run(main)
