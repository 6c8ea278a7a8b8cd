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
    from minidl.io.optional import require
    return require("onnx", "importing ONNX models")


def load_model(path):
    """(the ModelProto in the file ``path``, {initializer name: array} of the initializers
    whose bytes live in external files, read and checked here straight into NumPy: they never
    pass through the protobuf, so they are held once)."""
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
    return model, _load_external(model, path)


def _is_external(tensor):
    return tensor.data_location == tensor.EXTERNAL


def _load_external(model, path):
    """{initializer name: array} of the external initializers; a Constant node's external
    value is put back into the node."""
    folder = os.path.dirname(os.path.abspath(path))
    arrays = {t.name: _external_array(t, path, folder) for t in model.graph.initializer
              if _is_external(t)}
    for tensor in [a.t for n in model.graph.node for a in n.attribute if a.HasField("t")]:
        if _is_external(tensor):
            tensor.raw_data = _external_array(tensor, path, folder).tobytes()
            del tensor.external_data[:]
            tensor.data_location = tensor.DEFAULT
    return arrays


def _external_array(tensor, path, folder):
    """The array of an external tensor, read from its file after the checks."""
    import numpy as np
    from onnx import helper
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    target = _checked_location(path, folder, tensor.name, location)
    offset, length = int(info.get("offset", 0)), info.get("length")
    size = os.path.getsize(target)
    end = offset + (int(length) if length is not None else size - offset)
    if offset < 0 or end > size:
        raise ValueError(f"{path}: tensor {tensor.name!r} declares bytes {offset}..{end} of "
                         f"external file {location!r}, which has only {size} bytes")
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    count = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
    if count * dtype.itemsize != end - offset:
        raise ValueError(f"{path}: tensor {tensor.name!r} of shape {list(tensor.dims)} needs "
                         f"{count * dtype.itemsize} bytes, its external data has {end - offset}")
    with open(target, "rb") as f:
        f.seek(offset)
        data = bytearray(end - offset)  # writable: the network trains these arrays in place
        f.readinto(data)
    return np.frombuffer(data, dtype=dtype).reshape(tuple(tensor.dims))


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
