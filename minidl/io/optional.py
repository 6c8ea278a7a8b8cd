"""Optional dependencies: the package of each extra is imported only where a feature needs it,
and a missing one is one error that names the feature and what to install.

    onnx = require("onnx", "importing ONNX models")
    # MissingDependencyError: importing ONNX models needs onnx: pip install 'minidl[onnx]'
"""

import importlib

# a package -> the minidl extra that installs it (pyproject.toml)
EXTRAS = {"h5py": "convert", "onnx": "onnx", "tensorboardX": "tensorboard", "pdoc": "docs",
          "dask": "dask", "distributed": "dask", "cupy": "gpu", "numba": "jit"}


class MissingDependencyError(ImportError):
    """A feature needs an optional package that is not installed; the message names the
    feature, the package and the ``pip install`` that brings it. The CLI reports it as one
    line."""


def require(module, feature):
    """The module ``module`` (``"onnx"``, ``"dask.distributed"``), imported; if its package is
    missing, a ``MissingDependencyError`` saying that ``feature`` needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        extra = EXTRAS.get(package)
        how = f"pip install 'minidl[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(f"{feature} needs {package}: {how}") from error
