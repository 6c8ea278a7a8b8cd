"""Where downloaded and converted files live: ``~/.minidl`` or ``$MINIDL_HOME``.

Layout (DESIGN.md §5)::

    $MINIDL_HOME/            default ~/.minidl
        models/              weight files (downloaded sources and converted .npz)
        datasets/            data archives and their extracted folders

The home is read from the environment on every call, so a test (or a user) can point it
elsewhere with ``MINIDL_HOME`` at any time.
"""

import os
from pathlib import Path

ENV_HOME = "MINIDL_HOME"


def minidl_home():
    """The cache root: ``$MINIDL_HOME`` if set, else ``~/.minidl`` (not created here)."""
    configured = os.environ.get(ENV_HOME)
    return Path(configured).expanduser() if configured else Path.home() / ".minidl"


def _subdir(name, create):
    path = minidl_home() / name
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(create=True):
    """``<home>/models``: weight files; created unless ``create=False``."""
    return _subdir("models", create)


def datasets_dir(create=True):
    """``<home>/datasets``: data archives and extracted data sets; created unless ``create=False``."""
    return _subdir("datasets", create)
