"""``minidl import`` and ``minidl export``: models in and out of other frameworks' files.

    minidl import MODEL.h5|MODEL.keras|MODEL.onnx -o MODEL.zip   a Keras or ONNX model, saved
    minidl export MODEL -o MODEL.onnx [--opset 17]                any model, for onnxruntime

``import`` saves what ``minidl.modelimport`` reads as a ModelSerializer zip (every command takes
the Keras or ONNX file directly too; the zip skips the conversion next time). ``export`` writes
any MODEL (a zip, an imported file or a zoo name) as ONNX with ``minidl.modelexport``.
"""

import os

from minidl.cli.checks import check_writable
from minidl.cli.models import imported_model, load_model, save_model
from minidl.cli.options import add_model_options
from minidl.cli.reporting import UsageError


def add_import(commands, add):
    """The ``import`` command's parser."""
    command = add(commands, "import", help="a Keras .h5/.keras or ONNX .onnx model, as a zip",
                  description="Import a Keras (.h5, .keras) or ONNX (.onnx) model as a network "
                              "of DL4J layers and save it as a minidl model zip.")
    command.add_argument("source", metavar="FILE", help="the Keras or ONNX model file")
    command.add_argument("-o", "--output", required=True, metavar="OUT.zip",
                         help="where to save the model zip")
    command.set_defaults(run=cmd_import)


def add_export(commands, add):
    """The ``export`` command's parser."""
    command = add(commands, "export", help="a model as ONNX, for onnxruntime and servers",
                  description="Write MODEL (a model zip, a Keras or ONNX file, or a zoo name) "
                              "as an ONNX file that onnxruntime runs with the same outputs.")
    add_model_options(command)
    command.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                         help="where to write the ONNX file")
    command.add_argument("--opset", type=int, choices=range(11, 19), default=17,
                         metavar="N", help="the ONNX opset to write, 11 to 18 (default 17)")
    command.set_defaults(run=cmd_export)


def cmd_import(args):
    from minidl import modelimport
    if not os.path.isfile(args.source):
        raise UsageError(f"model file {args.source!r} does not exist")
    if not modelimport.is_importable(args.source):
        raise UsageError(f"{args.source!r}: expected a Keras .h5/.keras or an ONNX .onnx file")
    check_writable(args.output)
    net = imported_model(args.source)
    save_model(net, args.output)
    print(f"{args.source} -> {args.output}: {len(net.wiring.order)} vertices, "
          f"{net.num_params():,} parameters")
    return 0


def cmd_export(args):
    from minidl.modelexport import OnnxModelExport
    check_writable(args.output)
    net = load_model(args.model, weights=args.weights, progress=not args.quiet,
                     include_top=not args.no_top)
    OnnxModelExport.export_model(net, args.output, opset=args.opset)
    print(f"{args.model} -> {args.output} (ONNX opset {args.opset})")
    return 0
