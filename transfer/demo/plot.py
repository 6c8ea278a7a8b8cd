"""The demo's training curves: ``transfer.plot``'s, shared with ``minidl fit-featurized --plot``
and ``minidl transfer --plot``."""

from transfer.plot import _COLOURS, save_panels, save_plot  # noqa: F401 (the curves' colours)

__all__ = ["save_panels", "save_plot"]
