"""The MODEL argument of the commands: a saved model zip, a Keras or ONNX file (through
``minidl.modelimport``), or a zoo model by name; and the model zips the commands write, which
carry the class names of their outputs (an ``objects/class_names.json`` entry, as DL4J's
``ModelSerializer.addObjectToFile`` keeps extra objects) besides the normalizer."""

import io
import json
import os
import zipfile

from minidl.cli.reporting import UsageError
from minidl.nn.serializer import ModelSerializer

# zoo.MODELS' names, without importing zoo (a test keeps them equal)
ZOO_MODELS = ("vgg16", "vgg19", "resnet50", "mobilenetv2", "lenet", "simplecnn")

# The vertex whose activations transfer learning usually starts from, per pretrained zoo model
# with its top (DL4J's examples take fc2 of VGG16; ResNet50 and MobileNetV2 end in a global
# average pooling, their zoo class's pooling_vertex); without the top, the model's last vertex.
FEATURE_VERTEX = {"vgg16": "fc2", "vgg19": "fc2", "resnet50": "avg_pool",
                  "mobilenetv2": "global_average_pooling2d"}


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
    from minidl import modelimport
    if os.path.exists(name_or_path) and modelimport.is_importable(name_or_path):
        return imported_model(name_or_path)
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


CLASS_NAMES = "objects/class_names.json"


def imported_model(path):
    """The network of a Keras or ONNX file (no normalizer or class names of its own)."""
    from minidl import modelimport
    net = modelimport.import_model(path)
    net.pre_processor = getattr(net, "pre_processor", None)
    net.class_names = getattr(net, "class_names", None)
    return net


def restore_model(path):
    """Whatever network the zip at ``path`` holds, with the normalizer saved with it (if any)
    as its ``pre_processor``, which ``--preprocess auto`` uses, and its ``class_names`` (None
    when the zip has none)."""
    net = ModelSerializer.restore_model(path)
    net.pre_processor = ModelSerializer.restore_normalizer_from_file(path)
    net.class_names = read_class_names(path)
    return net


def save_model(net, path, normalizer=None, class_names=None):
    """Write ``net`` (no updater) with its input ``normalizer`` and the ``class_names`` of its
    outputs to the zip ``path``, atomically."""
    from minidl.io import atomic_write
    buffer = io.BytesIO()
    ModelSerializer.write_model(net, buffer, save_updater=False, normalizer=normalizer)
    if class_names is not None:
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(CLASS_NAMES, json.dumps(list(class_names)))
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


def read_class_names(path):
    """The class names saved in the model zip ``path``, or None."""
    with zipfile.ZipFile(path) as zf:
        if CLASS_NAMES not in zf.namelist():
            return None
        names = json.loads(zf.read(CLASS_NAMES).decode("utf-8"))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"model file {path!r}: {CLASS_NAMES} should hold a list of names")
    return names


def output_size(net):
    """The size of the network's (first) output (from the inferred types: a LossLayer has no
    n_out of its own)."""
    return net.vertex_types()[net.wiring.outputs[0]].size
