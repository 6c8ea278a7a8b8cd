"""The ``minidl`` command: a thin layer over the library. Each command is a few library calls,
after checks of what the user asked for (paths, numbers, layer names), so that a mistake fails
in one line before any long work (a download, a featurization).

    minidl demo [--fast] [--plot curves.png]      the offline transfer-learning demo
    minidl zoo list | download | convert | info    pretrained weights in the cache
    minidl summary MODEL                           layers, sizes, frozen/trainable parameters
    minidl featurize MODEL --data DIR --out DIR    frozen-part activations to disk, once
    minidl fit-featurized MODEL FEATURES -o OUT    train the head on them, save the model
    minidl evaluate MODEL --data DIR [--json]      accuracy, precision, recall, F1, confusion
    minidl predict MODEL IMAGE... [--top K]        the likeliest classes of each image
    minidl transfer MODEL --data DIR -o OUT.zip    featurize, fit a new head, evaluate, save
    minidl import FILE -o OUT.zip                  a Keras .h5/.keras or ONNX model, saved
    minidl export MODEL -o OUT.onnx [--opset N]    any model as ONNX, for onnxruntime
    minidl docs DIR                                the API reference as HTML (pdoc)

MODEL is a saved model zip (ModelSerializer), a Keras .h5/.keras or ONNX .onnx file (imported
with minidl.modelimport) or a zoo name (vgg16, vgg19, resnet50, mobilenetv2, lenet, simplecnn).
Exit codes: 0 success, 1 failure (missing file, unknown model, bad data...), 2 bad usage.
User mistakes are reported as one line on stderr, without a traceback.
"""

import minidl
from minidl.cli.models import ZOO_MODELS, load_model, restore_model, zoo_model
from minidl.cli.options import OptionError, percentage, positive, probability
from minidl.cli.parser import COMMANDS, build_parser
from minidl.cli.reporting import UsageError, run_reporting_errors
from minidl.cli.demo import cmd_demo
from minidl.cli.weights import cmd_zoo_convert, cmd_zoo_download, cmd_zoo_info, cmd_zoo_list
from minidl.cli.evaluate import cmd_evaluate, cmd_summary
from minidl.cli.featurize import cmd_featurize, cmd_fit_featurized
from minidl.cli.predict import cmd_predict
from minidl.cli.pipeline import cmd_transfer


def main(argv=None):
    """Run the command line ``argv`` (default: sys.argv); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.quiet = getattr(args, "quiet", False)
    try:
        getattr(args, "check", lambda args: None)(args)
    except OptionError as error:
        parser.exit(2, f"minidl {args.command}: error: {error} (see minidl {args.command} "
                       f"--help)\n")
    command = " ".join(filter(None, ("minidl", args.command, getattr(args, "zoo_command", None))))

    def run():
        if args.device:
            minidl.set_device(args.device)
        minidl.backend.get_device()  # a bad MINIDL_DEVICE fails here, before any work
        return args.run(args)
    return run_reporting_errors(command, run, on_interrupt=getattr(args, "on_interrupt", ""))
