"""The version of minidl: one line, so that what records it (the model files' meta.json)
needs nothing else of the package."""

__version__ = "0.1.0"
