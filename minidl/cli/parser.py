"""The ``minidl`` argument parser: a subcommand per ``cmd_*`` function.

``COMMANDS`` lists the functions that add the commands, in ``--help`` order; each is called as
``add_command(commands, add)`` and adds its parser with ``add(commands, name, ...)`` (which gives
it the common options), then ``set_defaults(run=cmd_..., check=...)``: ``run(args)`` does the
work, and the optional ``check(args)`` refuses options that do not go together (raising
``OptionError``: exit code 2, like any bad option). A new command is one more entry here (the
command modules hold their own ``add_command``: predict, transfer).
"""

import argparse

import minidl
from minidl.cli import options
from minidl.cli.convert import add_export, add_import
from minidl.cli.demo import cmd_demo
from minidl.cli.docs import add_docs
from minidl.cli.evaluate import cmd_evaluate, cmd_summary
from minidl.cli.featurize import cmd_featurize, cmd_fit_featurized
from minidl.cli.models import ZOO_MODELS
from minidl.cli.options import add_data_options, add_head_options, add_model_options
from minidl.cli.predict import add_predict
from minidl.cli.pipeline import add_transfer
from minidl.cli.weights import cmd_zoo_convert, cmd_zoo_download, cmd_zoo_info, cmd_zoo_list


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_common_options(parser, default=None):
    """--quiet and --device; ``default`` argparse.SUPPRESS leaves them unset when not given."""
    parser.add_argument("--quiet", action="store_true",
                        default=False if default is None else default, help="no progress bars")
    parser.add_argument("--device", choices=["cpu", "gpu"], default=default,
                        help="where networks compute: cpu (NumPy) or gpu (CuPy); default "
                             "$MINIDL_DEVICE, else cpu")


def build_parser():
    """The ``minidl`` argument parser: one subcommand per ``cmd_*`` function."""
    parser = _Parser(
        prog="minidl",
        description="minidl: a small deep-learning engine with Deeplearning4j's transfer-learning "
                    "API. Models and data are cached under $MINIDL_HOME (default ~/.minidl).")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    _add_common_options(parser)
    # Every command takes them too (after its name); unset there, the value before it stands.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)

    def add(subparsers, name, **kwargs):
        return subparsers.add_parser(name, parents=[common], **kwargs)

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_command in COMMANDS:
        add_command(commands, add)
    return parser


# Each of these adds a command to ``commands`` with ``add(commands, name, ...)``, which gives it
# the common options too.

def _add_demo(commands, add):
    demo = add(commands, "demo", help="the offline transfer-learning demo (no download)",
               description="Pretrain a small VGG on generated shapes (cached), transfer it to "
                           "new shapes, compare with training from scratch. Seconds to a minute "
                           "on 2 CPU cores.")
    demo.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    demo.add_argument("--fast", action="store_true", help="smaller settings (used by the tests)")
    demo.add_argument("--plot", metavar="FILE.png", help="save the training curves as a PNG")
    demo.set_defaults(run=cmd_demo)


def _add_zoo(commands, add):
    zoo_parser = add(commands, "zoo", help="pretrained models: list, download, convert, info",
                     description="The model zoo and its weight cache.")
    zoo_commands = zoo_parser.add_subparsers(dest="zoo_command", metavar="ACTION",
                                             parser_class=_Parser, required=True)
    add(zoo_commands, "list", help="zoo models and their cached weights",
        description="List the zoo models and their cached weights.").set_defaults(run=cmd_zoo_list)
    download = add(zoo_commands, "download", help="download and convert pretrained weights",
                   description="Download (md5-checked), convert and cache a model's ImageNet "
                               "weights.")
    download.add_argument("model", metavar="MODEL", help="vgg16, vgg19, resnet50 or mobilenetv2")
    download.add_argument("--no-top", action="store_true",
                          help="the weights without fc1, fc2, predictions")
    download.set_defaults(run=cmd_zoo_download)
    convert = add(zoo_commands, "convert", help="convert a Keras .h5 or torchvision .pth",
                  description="Convert Keras .h5 or torchvision .pth VGG weights to minidl's "
                              ".npz (DL4J names).")
    convert.add_argument("source", metavar="FILE", help="the .h5 or .pth file")
    convert.add_argument("-o", "--output", metavar="OUT.npz", help="default: beside FILE")
    convert.set_defaults(run=cmd_zoo_convert)
    info = add(zoo_commands, "info", help="what a weight file or zoo model holds",
               description="Describe a weight file (.h5, .pth, .npz) or a zoo model and its "
                           "cache.")
    info.add_argument("target", metavar="FILE|MODEL",
                      help=f"a weight file, or a zoo name ({', '.join(ZOO_MODELS)})")
    info.set_defaults(run=cmd_zoo_info)


def _add_summary(commands, add):
    summary = add(commands, "summary", help="layers, sizes and frozen parameters of a model",
                  description="Print a model's summary() table.")
    summary.add_argument("model", metavar="MODEL", help="a saved model zip or a zoo name")
    summary.add_argument("--pretrained", action="store_true",
                         help="for a zoo name: the pretrained layout (loads or downloads weights)")
    summary.set_defaults(run=cmd_summary)


def _add_featurize(commands, add):
    featurize = add(commands, "featurize", help="save a frozen part's activations to disk",
                    description="Run the frozen part of MODEL (up to --layer) once over the "
                                "images; write train/ and test/ shards under --out. Resumes if "
                                "interrupted.")
    add_model_options(featurize)
    add_data_options(featurize)
    featurize.add_argument("--layer", help="the last layer to freeze: a vertex name, or a layer "
                                           "index of a MultiLayerNetwork (default: the model's "
                                           "frozen layers)")
    featurize.add_argument("--out", required=True, metavar="DIR", help="output folder")
    featurize.add_argument("--overwrite", action="store_true",
                           help="replace features made by another model")
    options.add_precision_option(featurize)
    options.add_cluster_options(featurize)
    featurize.set_defaults(run=cmd_featurize,
                           on_interrupt=": run the same command again to resume")


def _add_fit_featurized(commands, add):
    fit = add(commands, "fit-featurized", help="train the unfrozen part on saved features",
              description="Train MODEL's unfrozen part on features written by 'minidl "
                          "featurize' and save the whole model, with its class names and "
                          "preprocessing. A model without frozen layers gets --layer frozen and "
                          "a new head sized for the features' labels: in place of "
                          "--output-vertex, or on top of --layer when it is the last vertex or "
                          "the model has no --output-vertex.")
    add_model_options(fit)
    fit.add_argument("features", metavar="FEATURES", help="the --out folder of 'minidl featurize'")
    fit.add_argument("-o", "--output", required=True, metavar="OUT.zip", help="where to save")
    add_head_options(fit)
    fit.add_argument("--seed", type=int, default=12345,
                     help="seed of the new output layer's weights (default 12345)")
    options.add_training_outputs(fit)
    fit.set_defaults(run=cmd_fit_featurized, check=options.check_head_options)


def _add_evaluate(commands, add):
    evaluate = add(commands, "evaluate", help="accuracy, precision, recall, F1 on images",
                   description="Evaluate MODEL on every image under --data (label = sub-folder "
                               "name, sorted).")
    add_model_options(evaluate)
    add_data_options(evaluate, split=False)
    evaluate.add_argument("--json", action="store_true",
                          help="print accuracy, macro precision/recall/F1 and the confusion "
                               "matrix (rows: actual class, columns: predicted) as JSON")
    evaluate.set_defaults(run=cmd_evaluate)


COMMANDS = [_add_demo, _add_zoo, _add_summary, _add_featurize, _add_fit_featurized, _add_evaluate,
            add_predict, add_transfer, add_import, add_export, add_docs]
