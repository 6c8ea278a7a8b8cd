"""Where pretrained weights come from, and the cache that makes the second load fast.

The first ``init_pretrained`` downloads the Keras release of the weights (for VGG the
Caffe/VGG-team weights that DL4J's pretrained zip also holds; BGR input), checks its md5 (Keras
publishes none for MobileNetV2: there the conversion's check of every layer's name and shape
stands in), converts it once to our ``.npz`` (no pickle; our layouts; DL4J's vertex names) and
deletes the download. Every later
call loads the converted file from ``$MINIDL_HOME/models/<model>/`` (default ``~/.minidl``): no
download, no conversion. A network without the dense top (``include_top=False``) is served by
the full file too when that is the one in the cache. Reading the Keras file needs h5py
(``pip install 'minidl[convert]'``); a torchvision ``.pth`` or an already converted ``.npz`` can
be passed as ``weights=`` instead.
"""

import os
from pathlib import Path

from minidl.io import download, models_dir
from zoo.converters import convert, load_weights
from zoo.formats import MissingTopError, load_converted

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications"

# (architecture, include_top) -> (url, md5) of the Keras release of the ImageNet weights; md5
# None where Keras publishes none (MobileNetV2): conversion then checks every layer's name and
# shape, and the converted file records the download's sha256.
SOURCES = {
    ("vgg16", True): (f"{KERAS_BASE}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                      "64373286793e3c8b2b4e3219cbf3544b"),
    ("vgg16", False): (f"{KERAS_BASE}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                       "6d6bbae143d832006294945121d1f1fc"),
    ("vgg19", True): (f"{KERAS_BASE}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                      "cbe5617147190e668d6c5d5026f83318"),
    ("vgg19", False): (f"{KERAS_BASE}/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                       "253f8cb515780f3b799900260a226db6"),
    # the current Keras ResNet50 (an older, different file has the same name: zoo.resnet)
    ("resnet50", True): (f"{KERAS_BASE}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                         "2cb95161c43110f7111970584f804107"),
    ("resnet50", False): (f"{KERAS_BASE}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_"
                          f"notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
    ("mobilenetv2", True): (f"{KERAS_BASE}/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_"
                            f"kernels_1.0_224.h5", None),
    ("mobilenetv2", False): (f"{KERAS_BASE}/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_"
                             f"tf_kernels_1.0_224_no_top.h5", None),
}

# Lets tests (and mirrors) point the downloads elsewhere: MINIDL_WEIGHTS_BASE_URL replaces
# KERAS_BASE in every URL above.
BASE_URL_VARIABLE = "MINIDL_WEIGHTS_BASE_URL"


def source(architecture, include_top):
    """(url, md5) of the Keras weight file for this architecture and top/no-top variant."""
    url, md5 = SOURCES[(architecture, include_top)]
    base = os.environ.get(BASE_URL_VARIABLE)
    if base:
        url = base.rstrip("/") + url[len(KERAS_BASE):]
    return url, md5


def cached_path(model_name, pretrained_type, include_top):
    """Where the converted weights of this model live in the cache."""
    suffix = "" if include_top else "_notop"
    return Path(models_dir()) / model_name / f"{model_name}_{pretrained_type.name.lower()}{suffix}.npz"


def load_pretrained(model, pretrained_type, include_top, weights=None, progress=True):
    """(weights dict, metadata) for ``model``: from ``weights``, the cache, or a download."""
    if weights is not None:
        values, metadata = load_weights(weights)
        return _select(model, values, metadata, include_top, weights)
    cached = _cached_file(model.model_name(), pretrained_type, include_top)
    if cached is None:
        cached = _download_and_convert(model, pretrained_type, include_top, progress)
    return load_converted(cached, keep=None if include_top else _below_top(model))


def _cached_file(model_name, pretrained_type, include_top):
    """The converted file in the cache that holds these weights, or None. Without the top, the
    full file serves too: it holds every conv block, so no download is needed (offline)."""
    for top in ((True,) if include_top else (False, True)):
        path = cached_path(model_name, pretrained_type, top)
        if path.exists():
            return path
    return None


def _download_and_convert(model, pretrained_type, include_top, progress):
    """Download the Keras file (md5 checked where one is known), convert it into the cache, and
    return that path."""
    cached = cached_path(model.model_name(), pretrained_type, include_top)
    url, md5 = source(model.pretrained[pretrained_type], include_top)
    download_to = cached.parent / Path(url).name
    download(url, download_to, checksum=md5, algorithm="md5", progress=progress)
    convert(download_to, cached)
    download_to.unlink()  # the converted file has everything; keep the cache half the size
    return cached


def _below_top(model):
    """Whether a weight name ("fc1_W", "conv1_bn_gamma") is outside ``model``'s top."""
    prefixes = tuple(f"{vertex}_" for vertex in model.top_vertices)
    return lambda name: not name.startswith(prefixes)


def _select(model, values, metadata, include_top, path):
    """Drop the top's layers of a full weight file when the no-top network is asked for."""
    top = model.top_vertices
    if include_top and f"{top[0]}_W" not in values:
        raise MissingTopError(f"{path}: these weights have no top ({', '.join(top)}); use "
                              f"include_top=False or a full weight file")
    if not include_top:
        keep = _below_top(model)
        values = {k: v for k, v in values.items() if keep(k)}
    return values, metadata
