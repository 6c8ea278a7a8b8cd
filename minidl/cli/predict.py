"""``minidl predict MODEL IMAGE...``: the likeliest classes of each image.

Class names come from the model zip (a model trained by ``fit-featurized`` or ``transfer``),
``--labels FILE``, or the ImageNet names shipped with zoo for a pretrained zoo model. Images
are read one at a time: one that cannot be read is reported on its own line (and makes the exit
status 1) while the others still print.
"""

import contextlib
import json
import os
import sys

import numpy as np

from minidl.cli.images import image_size, pre_processor_for
from minidl.cli.models import ZOO_MODELS, model_from_args, output_size
from minidl.cli.options import add_model_options, positive
from minidl.cli.reporting import UsageError


def add_predict(commands, add):
    """The ``predict`` command's parser."""
    predict = add(commands, "predict", help="the likeliest classes of images",
                  description="Run MODEL on each IMAGE and print its --top K classes with "
                              "their probabilities. Class names: the model zip's, --labels "
                              "FILE, or ImageNet's for a pretrained zoo model.")
    add_model_options(predict)
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--top", type=positive(int), default=5, metavar="K",
                         help="how many classes per image (default 5)")
    predict.add_argument("--json", action="store_true",
                         help='print a JSON list of {"path", "predictions": [{"label", '
                              '"probability"}]} (or "error") per image')
    predict.add_argument("--labels", metavar="FILE",
                         help="class names, one a line in output order (or a Keras "
                              "imagenet_class_index.json)")
    predict.add_argument("--preprocess", choices=("auto", "vgg16", "scale", "none"),
                         default="auto", help="pixel preprocessing, as for evaluate "
                                              "(default auto: the model's own)")
    predict.set_defaults(run=cmd_predict)


def cmd_predict(args):
    if args.labels and not os.path.isfile(args.labels):
        raise UsageError(f"--labels {args.labels!r} is not a file")
    # with --json, stdout holds the JSON only: notes on the model go to stderr
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        net = model_from_args(args)
    names = class_names(net, args)
    height, width, channels = image_size(net)
    from minidl.data import NativeImageLoader
    loader = NativeImageLoader(height, width, channels)
    pre_processor = pre_processor_for(net, args.preprocess)
    results = [_predict_one(net, loader, pre_processor, path, names, args.top)
               for path in args.images]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(_as_text(result))
    return 1 if any("error" in result for result in results) else 0


def class_names(net, args):
    """The names of the model's outputs (see the module docstring), as many as it has."""
    output = net.vertex_types()[net.wiring.outputs[0]]
    if output is not None and output.is_convolutional:
        raise UsageError(f"{args.model} ends in a feature map ({output}), not class "
                         f"probabilities: predict needs a classifier (a model with its top, or "
                         f"one trained with fit-featurized or transfer)")
    n_outputs = output_size(net)
    names = getattr(net, "class_names", None)
    if args.labels:
        names = read_labels(args.labels)
    elif names is None and args.model.lower() in ZOO_MODELS and n_outputs == 1000:
        from zoo import ImageNetLabels
        names = ImageNetLabels().labels
    if names is None:
        raise UsageError(f"{args.model} has no class names: pass --labels FILE (one class name "
                         f"a line, in the order of its {n_outputs} outputs)")
    if len(names) != n_outputs:
        raise UsageError(f"{len(names)} class names for a model with {n_outputs} outputs"
                         f"{' (--labels ' + args.labels + ')' if args.labels else ''}")
    return names


def read_labels(path):
    """Class names from a text file (one a line) or a Keras class index (``.json``)."""
    if path.endswith(".json"):
        from zoo.labels import read_class_index
        return read_class_index(path)
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def _predict_one(net, loader, pre_processor, path, names, top):
    """{"path", "predictions"} for one image, or {"path", "error"} when it cannot be read."""
    from minidl.data import ImageDecodeError
    try:
        x = loader.as_matrix(path)
    except (ImageDecodeError, OSError, ValueError) as error:
        return {"path": path, "error": str(error)}
    if pre_processor is not None:
        x = pre_processor.transform(x)
    from minidl.backend import to_cpu
    probabilities = to_cpu(net.output_arrays([x])[0])[0]
    order = np.argsort(-probabilities, kind="stable")[:top]
    return {"path": path, "predictions": [{"label": names[k],
                                           "probability": float(probabilities[k])}
                                          for k in order]}


def _as_text(result):
    if "error" in result:
        return f"{result['path']}: error: {result['error']}"
    return f"{result['path']}: " + ", ".join(f"{p['label']} ({p['probability']:.2%})"
                                              for p in result["predictions"])
