"""The MODEL argument of the commands: a saved model zip, or a zoo model by name."""

import os

from minidl.cli.reporting import UsageError
from minidl.nn.serializer import ModelSerializer

# zoo.MODELS' names, without importing zoo (a test keeps them equal)
ZOO_MODELS = ("vgg16", "vgg19", "resnet50", "mobilenetv2", "lenet", "simplecnn")


def zoo_model(name):
    """The zoo model class instance for ``name`` (case-insensitive)."""
    from zoo import MODELS as classes
    if name.lower() not in classes:
        raise UsageError(f"unknown model {name!r}: not a file, and not a zoo model "
                         f"({', '.join(ZOO_MODELS)})")
    return classes[name.lower()]()


def load_model(name_or_path, pretrained=True, weights=None, progress=True, include_top=True):
    """A saved model zip, or a zoo model (pretrained when it has weights, else random)."""
    from zoo import MissingTopError
    if os.path.exists(name_or_path):
        return restore_model(name_or_path)
    if name_or_path.endswith(".zip") or os.sep in name_or_path:
        raise UsageError(f"model file {name_or_path!r} does not exist")
    model = zoo_model(name_or_path)
    if pretrained and (weights or model.pretrained_available()):
        try:
            return model.init_pretrained(weights=weights, progress=progress,
                                         include_top=include_top)
        except MissingTopError:
            raise UsageError(f"{weights} has no top ({', '.join(model.top_vertices)}): pass "
                             f"--no-top for the model without it") from None
    return model.init()


def model_from_args(args):
    """The MODEL of a command, as its options say (``--weights``, ``--no-top``, ``--quiet``)."""
    net = load_model(args.model, weights=args.weights, progress=not args.quiet,
                     include_top=not args.no_top)
    if not os.path.exists(args.model) and not args.weights and \
            not zoo_model(args.model).pretrained_available():
        print(f"note: {args.model} has no pretrained weights: its parameters are random")
    return net


def restore_model(path):
    """Whatever network the zip at ``path`` holds, with the normalizer saved with it (if any)
    as its ``pre_processor``, which ``--preprocess auto`` uses."""
    net = ModelSerializer.restore_model(path)
    net.pre_processor = ModelSerializer.restore_normalizer_from_file(path)
    return net


def output_size(net):
    """The size of the network's (first) output (from the inferred types: a LossLayer has no
    n_out of its own)."""
    return net.vertex_types()[net.wiring.outputs[0]].size
