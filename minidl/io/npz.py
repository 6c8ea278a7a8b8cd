"""Arrays in ``.npz`` files, read without pickle and written atomically: the one format for
DataSets (``DataSet.save``), featurized shards and the arrays inside model zips.

A file from elsewhere may hold pickled objects (NumPy's object arrays), which loading would run:
``read_npz`` refuses them (``allow_pickle=False``) and turns every way a file can be bad into
one error that names it.
"""

import io
import zipfile
import zlib

import numpy as np

from minidl.io.atomic import atomic_write


def describe(path):
    """How errors name ``path``: quoted, or "the file object" for an open file."""
    return repr(str(path)) if not hasattr(path, "read") else "the file object"


def write_npz(path, arrays):
    """Write ``arrays`` ({name: array}) as an .npz to a binary file object, or atomically to
    the file ``path``."""
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def read_npz(source, name):
    """{name: array} of the .npz ``source`` (a path, a binary file object, or bytes). ``name``
    says in errors what the file is (``"DataSet file 'x.npz'"``): a missing file is a
    FileNotFoundError, a corrupt, truncated or pickled one a ValueError."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        loaded = np.load(source, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not an .npz archive")
        with loaded as npz:
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} does not exist") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{name} is not a readable .npz of plain arrays (corrupt, truncated or "
                         f"pickled?): {e}") from e
