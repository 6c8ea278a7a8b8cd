"""The converted weight format: one ``.npz`` (no pickle) holding arrays and JSON metadata.

Keys are ``<vertex>_W`` and ``<vertex>_b`` with DL4J's pretrained vertex names
(``block1_conv1_W`` ... ``predictions_b``) in our layouts: conv W [n_out, n_in, kh, kw], dense W
[n_in, n_out] with fc1's rows in C, H, W flatten order, biases [n_out]. The entry
``__metadata__`` is a JSON string: architecture, source file and its sha256, channel order and
the preprocessing ``(pixels_0_255 - mean) / std`` in that channel order.
"""

import json
import zipfile

import numpy as np

from minidl.io import atomic_write

METADATA_KEY = "__metadata__"
FORMAT_NAME = "minidl.weights"
FORMAT_VERSION = 1


class WeightFileError(ValueError):
    """A weight file that is missing, truncated, or not in the expected format."""


class MissingTopError(WeightFileError):
    """Weights without the dense top (fc1, fc2, predictions) given for a network with one."""


def save_converted(path, weights, metadata):
    """Write ``weights`` (name -> array) and ``metadata`` (a JSON-able dict) atomically to ``path``."""
    if METADATA_KEY in weights:
        raise ValueError(f"{METADATA_KEY!r} is reserved for the metadata entry")
    metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata}
    with atomic_write(path) as f:
        np.savez(f, **weights, **{METADATA_KEY: np.array(json.dumps(metadata))})
    return path


def load_converted(path, keep=None):
    """Read a converted ``.npz`` -> (dict name -> float array, metadata dict).

    ``keep(name)``, when given, chooses the arrays to read: the others are never decompressed
    (VGG16's dense layers are 90% of its file; a network without them need not read them).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if METADATA_KEY not in archive.files:
                raise WeightFileError(f"{path}: not a minidl weight file (no {METADATA_KEY} entry)")
            metadata = json.loads(str(archive[METADATA_KEY]))
            weights = {name: archive[name] for name in archive.files
                       if name != METADATA_KEY and (keep is None or keep(name))}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, WeightFileError):
            raise
        raise WeightFileError(f"{path}: cannot read converted weights ({error}); the file may be "
                              f"truncated: delete it so it is converted again") from error
    return weights, metadata
