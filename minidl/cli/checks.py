"""Checks of what the user asked for (paths, layer names), run before any long work (a
download, a featurization) so that a mistake fails at once, in one line."""

import os
import tempfile

from minidl.cli.models import zoo_model
from minidl.cli.reporting import UsageError


def check_data(args):
    """Fail on a missing data folder before a model is loaded (which may mean a download)."""
    if not os.path.exists(args.data):
        raise UsageError(f"data folder {args.data!r} does not exist")
    if not os.path.isdir(args.data):
        raise UsageError(f"--data {args.data!r} is a file: expected a folder with one "
                         f"sub-folder of images per class")


def check_precision(args):
    """--precision fp16 needs the GPU (minidl.nn.precision's rule): say so before a model is
    loaded."""
    from minidl.backend import get_device
    from minidl.nn.precision import activation_dtype
    try:
        activation_dtype(args.precision, get_device())
    except ValueError:
        raise UsageError(f"--precision {args.precision} runs on the GPU only: add --device gpu "
                         f"(or set MINIDL_DEVICE=gpu), or featurize in fp32") from None


def check_out_folder(args, option="--out"):
    """--out (or ``option``, at ``args.out``) must be a folder (or not exist yet) and must not
    lie inside --data, whose sub-folders are classes."""
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"{option} {args.out!r} is a file: expected a folder")
    data, out = os.path.abspath(args.data), os.path.abspath(args.out)
    if os.path.commonpath([data, out]) == data:
        raise UsageError(f"{option} {args.out!r} is inside --data {args.data!r}: its train/ and "
                         f"test/ folders would be taken for classes")


def check_output_file(path):
    """Fail before any training if the model file ``path`` cannot be written."""
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder: expected a file name for the model (OUT.zip)")
    check_writable(path)


def check_writable(path):
    """Fail now, not after minutes of work, if ``path`` cannot be written (a missing folder is
    created, as for every output of the command)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the folder of {path!r}: {error.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in the folder of {path!r}: {error.strerror}") from None


def check_layer_name(args):
    """For a pretrained zoo model, check --layer against its layout before the weights are
    loaded (maybe downloaded: 528 MB for VGG16)."""
    if args.layer is None or os.path.exists(args.model) or args.model.endswith(".zip"):
        return
    model = zoo_model(args.model)
    if not model.pretrained_available() or not hasattr(model, "pretrained_conf"):
        return
    known = model.pretrained_conf(1000, include_top=not args.no_top).known_names()
    if args.layer not in known:
        raise UsageError(f"{args.model}{' --no-top' if args.no_top else ''} has no vertex "
                         f"{args.layer!r}; vertices: {', '.join(known)}")
