"""Reading an ONNX file that may not be trustworthy: the protobuf through the ``onnx`` package,
external weight files only from the model's own folder and never past their end.

ONNX lets a tensor keep its bytes in another file (``data_location = EXTERNAL``, key
``location``, optional ``offset`` and ``length``). A model from the internet could name
``../../.ssh/id_rsa`` or ``/etc/passwd`` there; ``load_model`` refuses any location that is
absolute or climbs out of the model's folder, and a declared length that runs past the end of
the file, before anything is read.
"""

import os


def _onnx():
    try:
        import onnx
    except ImportError as e:  # the optional extra
        raise ImportError("importing ONNX models needs the onnx package: "
                          "pip install 'minidl[onnx]'") from e
    return onnx


def load_model(path):
    """The ModelProto in the file ``path``, with its external data loaded and checked."""
    onnx = _onnx()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # a protobuf DecodeError, or a truncated file
        raise ValueError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise ValueError(f"{path}: not an ONNX model (no graph with nodes in it)")
    _load_external(model, path)
    return model


def _external_tensors(model):
    """The tensors of the graph (initializers and Constant nodes' values) stored elsewhere."""
    graph = model.graph
    tensors = list(graph.initializer) + [a.t for n in graph.node for a in n.attribute
                                         if a.HasField("t")]
    return [t for t in tensors if t.data_location == t.EXTERNAL]


def _load_external(model, path):
    folder = os.path.dirname(os.path.abspath(path))
    for tensor in _external_tensors(model):
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = _checked_location(path, folder, tensor.name, location)
        offset, length = int(info.get("offset", 0)), info.get("length")
        size = os.path.getsize(target)
        end = offset + (int(length) if length is not None else size - offset)
        if offset < 0 or end > size:
            raise ValueError(f"{path}: tensor {tensor.name!r} declares bytes {offset}..{end} of "
                             f"external file {location!r}, which has only {size} bytes")
        with open(target, "rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(end - offset)
        del tensor.external_data[:]
        tensor.data_location = tensor.DEFAULT


def _checked_location(path, folder, name, location):
    """The file an external tensor names, refused unless it lies inside the model's folder."""
    parts = location.replace("\\", "/").split("/")
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) \
            or ".." in parts or (len(location) > 1 and location[1] == ":"):
        raise ValueError(f"{path}: tensor {name!r} names external data {location!r}: only files "
                         f"inside the model's folder are read (no absolute path, no '..')")
    target = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([target, os.path.realpath(folder)]) != os.path.realpath(folder):
        raise ValueError(f"{path}: tensor {name!r} names external data {location!r}, which "
                         f"leads outside the model's folder")
    if not os.path.isfile(target):
        raise FileNotFoundError(f"{path}: tensor {name!r} names external data {location!r}, "
                                f"which does not exist beside the model")
    return target
