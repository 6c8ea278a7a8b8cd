"""Sending a network to the workers: its configuration and parameters, rebuilt there once.

DL4J broadcasts the configuration JSON and the flat parameter vector, and each executor builds
a new network from them. Here the payload is ``{"network_class", "conf", "params", "token"}``:
the configuration object (pickled by Dask, so classes that ``transfer`` or ``zoo`` add come with
their modules, and frozen layers stay frozen wrappers) and ``{"fc2_W": array}`` on the host.
A worker rebuilds it once per payload (``worker_network``) and keeps it per thread; every task
then copies in whatever changes between rounds, so the cached network never carries state
from one task to the next.
"""

import threading
import uuid

import numpy as np

from minidl.backend import to_cpu

_CACHE = threading.local()
_KEEP = 2  # networks kept per worker thread: this fit's and one more (featurization, say)


def pack(network):
    """The payload that rebuilds ``network`` on a worker (parameters copied to the host)."""
    check_serializable(network)
    return {"network_class": type(network), "conf": network.conf,
            "params": {key: np.array(to_cpu(a)) for key, a in network.param_table().items()},
            "token": uuid.uuid4().hex}


def unpack(payload):
    """A new network from a payload: no random initialisation, parameters copied (a task never
    changes its inputs)."""
    network_class = payload["network_class"]
    network = network_class(payload["conf"])
    tables, unknown = network.tables_from_flat({k: np.array(a) for k, a in
                                                payload["params"].items()})
    if unknown:
        raise ValueError(f"the payload has parameters the configuration lacks: {unknown}")
    return network.init_from_tables(tables)


def worker_network(payload):
    """The network of ``payload``, built on the first call in this worker thread and reused."""
    cache = getattr(_CACHE, "networks", None)
    if cache is None:
        cache = _CACHE.networks = {}
    token = payload["token"]
    if token not in cache:
        while len(cache) >= _KEEP:
            cache.pop(next(iter(cache)))
        cache[token] = unpack(payload)
    return cache[token]


def check_serializable(network):
    """Raise TypeError naming the first layer (or vertex, or preprocessor) that cannot be
    pickled, so a network the workers could not receive fails on the driver, before any work."""
    import cloudpickle
    wiring = network.wiring
    parts = [(f"layer {v.describe()}" if hasattr(v, "describe") else f"vertex {name!r}", v)
             for name, v in wiring.vertices.items()]
    parts += [(f"the input preprocessor of {name!r}", p) for name, p in
              wiring.preprocessors.items()]
    for what, part in parts:
        try:
            cloudpickle.dumps(part)
        except Exception as error:  # pickling fails with many types (TypeError, PicklingError...)
            raise TypeError(f"cannot send the network to the Dask workers: {what} cannot be "
                            f"serialized ({type(error).__name__}: {error})") from error
    try:
        cloudpickle.dumps(network.conf)
    except Exception as error:
        raise TypeError(f"cannot send the network to the Dask workers: its configuration "
                        f"cannot be serialized ({type(error).__name__}: {error})") from error
