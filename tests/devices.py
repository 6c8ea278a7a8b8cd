"""Test data across the host/device line, for tests that take the ``device`` fixture.

Inputs go to the current device with ``minidl.backend.to_device``; results come back with
``host`` before they meet NumPy truths (hand computations, loops, torch).
"""

from minidl.backend import device_of, to_cpu


def host(value):
    """``value`` as NumPy: every array in it, also inside lists, tuples and dicts, brought back.

    Like ``to_cpu``, a NumPy array is returned as it is, not copied: ``.copy()`` a live
    parameter to keep its value.
    """
    if isinstance(value, dict):
        return {key: host(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(host(v) for v in value)
    return to_cpu(value)


def devices_of(net):
    """The devices ("cpu", "gpu") holding a network's parameters and updater state."""
    state = [a for arrays in net.updater_state.values() for a in arrays.values()]
    return {device_of(a) for a in list(net.param_table().values()) + state}
