"""Convert Keras and torchvision weights (VGG here; ResNet50 and MobileNetV2 through
``zoo.resnet_weights`` and ``zoo.mobilenet_weights``) to minidl's layouts and DL4J's vertex names.

Our layouts (DESIGN.md §4): conv W [n_out, n_in, kh, kw], dense W [n_in, n_out], bias [n_out],
and a feature map is flattened in C, H, W order before the first dense layer (``fc1``).

* Keras (TF dim ordering): conv kernel (kh, kw, n_in, n_out) -> ``transpose(3, 2, 0, 1)``; dense
  kernels are already [n_in, n_out], but Keras flattened the H, W, C feature map, so fc1's rows
  are permuted from HWC to CHW order. The weights expect BGR 0..255 minus the caffe mean.
* torchvision: conv weights already match; ``Linear.weight`` is [out, in] -> transpose; its
  flatten is already CHW. The weights expect RGB scaled to 0..1 and normalised by mean/std.

``load_weights(path)`` reads any of the three formats (Keras .h5, torch .pth, our .npz) and
returns (weights, metadata); ``convert(src, out)`` writes the converted ``.npz`` once.
"""

import collections
import dataclasses
import re
import zipfile
from pathlib import Path

from minidl.io.checksum import file_checksum
from minidl.modelimport.keras import kernels
from minidl.modelimport.keras.kernels import conv_kernel
from zoo.formats import METADATA_KEY, WeightFileError, load_converted, save_converted
from zoo.vgg_names import VGG_BLOCKS, vgg_vertex_names

# preprocessing as (pixels_0_255 - mean) / std, in the file's channel order
KERAS_PREPROCESSING = {"channel_order": "BGR", "mean": [103.939, 116.779, 123.68], "std": [1.0, 1.0, 1.0]}
TORCHVISION_PREPROCESSING = {"channel_order": "RGB",
                             "mean": [0.485 * 255, 0.456 * 255, 0.406 * 255],
                             "std": [0.229 * 255, 0.224 * 255, 0.225 * 255]}
# Keras' "tf" mode (MobileNetV2's preprocess_input): RGB, x / 127.5 - 1, i.e. into [-1, 1]
KERAS_TF_PREPROCESSING = {"channel_order": "RGB", "mean": [127.5] * 3, "std": [127.5] * 3}

# torchvision's files, named by torch hub's rule "<name>-<first 8 hex of the sha256>.pth"; one
# read under such a name must have that sha256 prefix (a corrupt or substituted file does not)
TORCHVISION_FILES = ("vgg16-397923af.pth", "resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth",
                     "mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth")


def _architecture(names):
    for architecture in VGG_BLOCKS:
        for include_top in (True, False):
            if names == vgg_vertex_names(architecture, include_top):
                return architecture, include_top
    return "vgg-like", any(not n.startswith("block") for n in names)


def chw_rows_from_hwc(W, channels):
    """Reorder a dense kernel's rows from an H, W, C flatten to a C, H, W flatten (square maps);
    ``minidl.modelimport.keras.kernels.chw_rows_from_hwc``, its errors as WeightFileError."""
    try:
        return kernels.chw_rows_from_hwc(W, channels)
    except ValueError as error:
        raise WeightFileError(f"fc1: {error} of the last conv") from None


def from_keras(layers, path="<keras>"):
    """Keras layers (name -> [kernel, bias]) -> our ``{"<name>_W", "<name>_b"}`` in file order."""
    weights, channels, flattened = collections.OrderedDict(), None, False
    for name, params in layers.items():
        if len(params) != 2:
            raise WeightFileError(f"{path}: layer {name} has {len(params)} weights, expected kernel and bias")
        kernel, bias = params
        if kernel.ndim == 4:
            if kernel.shape[3] != bias.shape[0]:
                raise WeightFileError(f"{path}: layer {name} kernel {kernel.shape} is not (kh, kw, "
                                      f"n_in, n_out) for {bias.shape[0]} outputs; only TF dim "
                                      f"ordering files are supported")
            W, channels = conv_kernel(kernel), kernel.shape[3]
        elif kernel.ndim == 2:
            # the first dense layer after the convs sees the flattened map: HWC rows -> CHW
            W = chw_rows_from_hwc(kernel, channels) if channels and not flattened else kernel
            flattened = True
        else:
            raise WeightFileError(f"{path}: layer {name} has a {kernel.ndim}-d kernel {kernel.shape}")
        weights[f"{name}_W"], weights[f"{name}_b"] = W.copy(), bias.copy()
    return weights


_FEATURE_KEY = re.compile(r"features\.(\d+)\.(weight|bias)$")
_CLASSIFIER_KEY = re.compile(r"classifier\.(\d+)\.(weight|bias)$")


def from_torchvision(state_dict, path="<pth>"):
    """A torchvision VGG state_dict -> our weights with DL4J's names, in network order.

    Conv blocks are found from the ``features`` indices: conv, ReLU, conv, ReLU, pool, ... so a
    gap of more than 2 between two convs means a pool closed the block.
    """
    convs, denses, unknown = {}, {}, []
    for key, value in state_dict.items():
        match = _FEATURE_KEY.match(key) or _CLASSIFIER_KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        table = convs if key.startswith("features") else denses
        table.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if unknown:
        raise WeightFileError(f"{path}: unexpected keys {unknown[:5]} for a torchvision VGG "
                              f"(batch-norm variants are not supported)")
    weights, block, k, previous = collections.OrderedDict(), 1, 0, None
    for index in sorted(convs):
        if previous is not None and index - previous > 2:
            block, k = block + 1, 0
        k, previous = k + 1, index
        _put(weights, f"block{block}_conv{k}", convs[index], path)
    dense_names = [f"fc{i}" for i in range(1, len(denses))] + ["predictions"] if denses else []
    for name, index in zip(dense_names, sorted(denses)):
        _put(weights, name, denses[index], path, transpose=True)
    return weights


def _put(weights, name, params, path, transpose=False):
    if set(params) != {"weight", "bias"}:
        raise WeightFileError(f"{path}: {name} has {sorted(params)}, expected weight and bias")
    W = params["weight"].T if transpose else params["weight"]
    weights[f"{name}_W"], weights[f"{name}_b"] = W.copy(), params["bias"].copy()


def _vertex_names(weights):
    return [key[:-2] for key in weights if key.endswith("_W")]


def _metadata(weights, path, source_format, preprocessing, architecture=None):
    """The converted file's metadata; ``architecture``: (name, include_top), else guessed."""
    names = _vertex_names(weights)
    architecture, include_top = architecture or _architecture(names)
    return {"architecture": architecture, "include_top": include_top, "vertices": names,
            "source": {"file": Path(path).name, "format": source_format,
                       "sha256": file_checksum(path, "sha256")},
            **preprocessing}


def detect_format(path):
    """"keras_h5", "torch_pth" or "minidl_npz", from the file's first bytes."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"{path}: no such weight file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return "keras_h5"
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                is_npz = METADATA_KEY + ".npy" in archive.namelist()
        except zipfile.BadZipFile:  # truncated: let the reader for its suffix report it
            is_npz = path.suffix == ".npz"
        return "minidl_npz" if is_npz else "torch_pth"
    if head[:1] == b"\x80":
        return "torch_pth"
    raise WeightFileError(f"{path}: not a Keras .h5, a torch .pth or a minidl .npz weight file")


def load_weights(path):
    """Any supported weight file -> (OrderedDict "<vertex>_W"/"_b" -> array, metadata dict)."""
    kind = detect_format(path)
    if kind == "minidl_npz":
        return load_converted(path)
    if kind == "keras_h5":
        return _from_keras_file(path)
    return _from_torch_file(path)


@dataclasses.dataclass(frozen=True)
class ArchitectureConverter:
    """How to recognise and convert one architecture's Keras and torchvision files.

    ``zoo.resnet_weights`` and ``zoo.mobilenet_weights`` register one each (``register``) when
    ``zoo`` is imported; a file none of them recognises is read as a VGG. Registering keeps this
    module below the architectures, whose converters build the network to check a file.
    """

    is_keras: object  # (Keras layer names) -> bool
    from_keras: object  # (layers, path) -> (weights, include_top)
    keras: object  # the Keras variant (its .architecture goes into the metadata)
    keras_preprocessing: dict
    is_torchvision: object  # (state_dict) -> bool
    from_torchvision: object  # (state_dict, path) -> (weights, include_top)
    torchvision: object


ARCHITECTURES = []


def register(converter):
    """Add an ``ArchitectureConverter``: ``load_weights`` tries it before the VGG reading."""
    ARCHITECTURES.append(converter)
    return converter


def _from_keras_file(path):
    """A Keras .h5 -> (weights, metadata): a registered architecture's layer names go to its own
    checked converter, anything else is read as a VGG."""
    from zoo.keras_h5 import read_keras_h5
    layers = read_keras_h5(path)
    for arch in ARCHITECTURES:
        if arch.is_keras(layers):
            weights, include_top = arch.from_keras(layers, path)
            return weights, _metadata(weights, path, "keras_h5", arch.keras_preprocessing,
                                      (arch.keras.architecture, include_top))
    weights = from_keras(layers, path)
    return weights, _metadata(weights, path, "keras_h5", KERAS_PREPROCESSING)


def _from_torch_file(path):
    """A torchvision .pth -> (weights, metadata): a registered architecture or a VGG."""
    from zoo.torch_pth import read_state_dict
    check_torchvision_hash(path)
    state_dict = read_state_dict(path)
    for arch in ARCHITECTURES:
        if arch.is_torchvision(state_dict):
            weights, include_top = arch.from_torchvision(state_dict, path)
            return weights, _metadata(weights, path, "torchvision_pth", TORCHVISION_PREPROCESSING,
                                      (arch.torchvision.architecture, include_top))
    weights = from_torchvision(state_dict, path)
    return weights, _metadata(weights, path, "torchvision_pth", TORCHVISION_PREPROCESSING)


def check_torchvision_hash(path):
    """Refuse a file named as one of torchvision's (``TORCHVISION_FILES``) whose sha256 does not
    start with the hex digits in its name, as torch hub's ``check_hash`` would."""
    name = Path(path).name
    if name not in TORCHVISION_FILES:
        return
    expected = name.rsplit("-", 1)[1][:-len(".pth")]
    actual = file_checksum(path, "sha256")
    if not actual.startswith(expected):
        raise WeightFileError(f"{path}: sha256 {actual} does not start with {expected}, as "
                              f"torchvision's {name} does: a corrupt or another file; download "
                              f"it again")


def convert(src, out=None):
    """Convert a Keras .h5 or torchvision .pth to our .npz (default: beside ``src``); returns its path."""
    out = Path(out) if out is not None else Path(src).with_suffix(".npz")
    weights, metadata = load_weights(src)
    save_converted(out, weights, metadata)
    return out
