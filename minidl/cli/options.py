"""What the commands' options share: argparse types for numbers that must make sense (a
percentage, a positive number, a probability) and the option groups several commands take
(the model, the images, the training of a new head, the outputs of a training)."""

import argparse

from minidl.cli.models import ZOO_MODELS


class OptionError(Exception):
    """Options that do not go together: reported as argparse reports a bad option (exit 2)."""


def percentage(text):
    """An argparse type: an int from 1 to 99 (a train/test split's train part)."""
    value = int(text)
    if not 1 <= value <= 99:
        raise argparse.ArgumentTypeError(f"expected a percentage from 1 to 99, got {value}")
    return value


def positive(kind):
    """An argparse type: a number of ``kind`` (int or float) above 0 (and finite)."""
    def parse(text):
        value = kind(text)
        if not 0 < value < float("inf"):  # also refuses nan
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value" errors
    return parse


def probability(text):
    """An argparse type: a float in [0, 1) (a dropout's drop probability)."""
    value = float(text)
    if not 0 <= value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to below 1, got {text}")
    return value


probability.__name__ = "float"


def add_data_options(parser, split=True):
    """--data, --batch-size, --preprocess; with ``split``, --train-percent and --seed."""
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a folder with one sub-folder of images per class")
    parser.add_argument("--batch-size", type=positive(int), default=16,
                        help="minibatch size (default 16)")
    parser.add_argument("--preprocess", choices=("auto", "vgg16", "scale", "none"), default="auto",
                        help="pixel preprocessing. auto (default): what the model was trained "
                             "with, when its weights or zip say; else vgg16 for colour inputs "
                             "and scale for grey ones. vgg16: subtract VGG16's BGR means; "
                             "scale: 0..255 to 0..1; none")
    if split:
        parser.add_argument("--train-percent", type=percentage, default=80,
                            help="percentage for training; the rest is the test part (default 80)")
        parser.add_argument("--seed", type=int, default=12345,
                            help="seed of the train/test split and of the new head's weights "
                                 "(default 12345)")


def add_model_options(parser):
    """MODEL, --weights, --no-top."""
    parser.add_argument("model", metavar="MODEL",
                        help=f"a saved model zip, a Keras .h5/.keras or ONNX .onnx file, or a "
                             f"zoo name ({', '.join(ZOO_MODELS)})")
    parser.add_argument("--weights", metavar="FILE",
                        help="pretrained weights for a zoo model (.h5, .pth or .npz)")
    parser.add_argument("--no-top", action="store_true",
                        help="a pretrained zoo model without its classifier (VGG: ends at "
                             "block5_pool; ResNet50, MobileNetV2: at the last convolution's "
                             "activation; for weights without it)")


def add_head_options(parser):
    """How a model without frozen layers gets its new head: --layer, --output-vertex,
    --hidden, --dropout, --learning-rate, --epochs."""
    parser.add_argument("--layer",
                        help="the last layer to freeze: a vertex name (the model's last vertex "
                             "too: then the head goes on top of it), or a MultiLayerNetwork's "
                             "layer index (default: where the features were made, for "
                             "fit-featurized; the model's usual feature vertex, for transfer)")
    parser.add_argument("--output-vertex", default="predictions",
                        help="the output vertex the new head replaces; a model without it gets "
                             "the head on top of --layer (default predictions)")
    parser.add_argument("--hidden", type=positive(int), metavar="N",
                        help="a hidden ReLU DenseLayer of N units in the new head")
    parser.add_argument("--dropout", type=probability, metavar="P",
                        help="drop probability on the hidden layer's outputs (needs --hidden)")
    parser.add_argument("--epochs", type=positive(int), default=3, help="epochs (default 3)")
    parser.add_argument("--learning-rate", type=positive(float), default=3e-5,
                        help="Nesterovs learning rate of the new head (default 3e-5, as DL4J)")


def add_precision_option(parser):
    """--precision fp32|fp16: the arithmetic of the frozen part (minidl.nn.precision)."""
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                        help="fp16: run the frozen part in half precision on the GPU (needs "
                             "--device gpu; float32 weights kept, float32 features written, "
                             "about 1e-3 from fp32's); default fp32")


def add_cluster_options(parser):
    """--workers N or --scheduler ADDRESS: featurize on a Dask cluster (minidl.scaleout)."""
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=positive(int), metavar="N",
                         help="featurize on a local Dask cluster of N worker processes, one "
                              "thread each (needs dask: pip install 'minidl[dask]')")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="featurize on the workers of a running Dask scheduler "
                              "(tcp://host:8786, or its --scheduler-file); --out must be a "
                              "folder every worker sees, and so must the images")


def add_training_outputs(parser):
    """--tensorboard DIR and --plot FILE.png."""
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="write TensorBoard event files there (needs tensorboardX: pip "
                             "install 'minidl[tensorboard]')")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="save the score and test accuracy per epoch as a PNG")


def check_head_options(args):
    """--dropout needs --hidden (the dropout is on the hidden layer's outputs)."""
    if args.dropout and args.hidden is None:
        raise OptionError("--dropout needs --hidden N: it drops the hidden layer's outputs")
