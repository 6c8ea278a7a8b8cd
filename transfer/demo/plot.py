"""The demo's training curves: ``transfer.plot``'s, shared with ``minidl fit-featurized --plot``
and ``minidl transfer --plot``."""

from transfer.plot import save_panels, save_plot

__all__ = ["save_panels", "save_plot"]
