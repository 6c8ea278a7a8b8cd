"""Sending a network to the workers: its configuration and parameters, rebuilt there once.

DL4J broadcasts the configuration JSON and the flat parameter vector, and each executor builds
a new network from them. Here the payload is ``{"network_class", "conf", "params", "token"}``:
the configuration object (pickled by Dask, so classes that ``transfer`` or ``zoo`` add come with
their modules, and frozen layers stay frozen wrappers) and ``{"fc2_W": array}`` on the host.
A worker rebuilds it once per payload (``worker_network``) and keeps it per thread (until
``forget`` at the end of the job, or two newer payloads); every task
then copies in whatever changes between rounds, so the cached network never carries state
from one task to the next.
"""

import threading
import uuid

import numpy as np

from minidl.backend import to_cpu

_CACHE = {}  # (payload token, thread id) -> network: a thread never shares one with another
_LOCK = threading.Lock()
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
    key = (payload["token"], threading.get_ident())
    with _LOCK:
        network = _CACHE.get(key)
    if network is None:
        network = unpack(payload)
        with _LOCK:
            mine = [k for k in _CACHE if k[1] == key[1]]  # oldest first
            while len(mine) >= _KEEP:
                del _CACHE[mine.pop(0)]
            _CACHE[key] = network
    return network


def _forget_here(token):
    with _LOCK:
        for key in [k for k in _CACHE if k[0] == token]:
            del _CACHE[key]


def forget(client, payload, on_worker=_forget_here):
    """Drop ``payload``'s network from the workers' caches (a big one holds memory) by running
    ``on_worker(token)`` on each: done at the end of a job. Best effort: a worker that died
    meanwhile has nothing to drop."""
    try:
        client.run(on_worker, payload["token"])
    except Exception:  # noqa: BLE001 - only memory is at stake, never a result
        pass


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
