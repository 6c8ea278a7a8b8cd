"""What runs on a Dask worker during training: one slot of one averaging round, and the sums.

A slot's task is a pure function of its inputs (the network payload, the round's state, its
minibatches): it copies the round's parameters and a private copy of the updater state into
the worker's cached network, sets the driver's counters and a dropout generator seeded by
(seed, round, slot), fits at most ``averaging_frequency`` minibatches and returns what it
trained. Run twice (a retry after a worker died) it returns the same thing.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from minidl.backend import to_cpu
from minidl.nn import model_file
from minidl.scaleout.data import examples_in, resolve
from minidl.scaleout.shipping import worker_network


def trainable_params(network):
    """{"<layer>_<param>": array} of every layer that is not frozen (batch-norm statistics of
    such layers too): what averaging changes. Frozen values stay the driver's. Copies: the
    worker's network trains on in its next task while this result may still be waiting."""
    return {key: np.array(to_cpu(array)) for key, array in network.param_table().items()
            if key in averaged_keys(network)}


def averaged_keys(network):
    """The flat keys of the parameters of non-frozen layers."""
    return {f"{key}_{name}" for key, layer in network.layer_items() if not layer.frozen
            for name in network.param_tables[key]}


def flat_updater_state(network):
    """A copy of the updater state as {"<layer>_<param>/<state>": host array} (the model file's
    keys)."""
    return {key: np.array(a) for key, a in
            model_file._flat_updater_state(network.updater_state).items()}


def load_round(network, state, rng_seed):
    """Copy a round's state into ``network``: parameters, a private updater state, counters."""
    for key, value in state["params"].items():
        network.set_param(key, value)
    flat = {k: np.array(a) for k, a in state["updater"].items()}  # never the task's input
    network.updater_state = model_file._nested_updater_state(network, flat,
                                                             "the driver's updater state")
    network.iteration_count, network.epoch_count = state["iteration"], state["epoch"]
    network._rng = np.random.default_rng(rng_seed)


def _prefetched(minibatches, ahead):
    """The minibatches resolved (files read), ``ahead`` of them in a background thread."""
    if ahead <= 0:
        for minibatch in minibatches:
            yield resolve(minibatch)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = [pool.submit(resolve, m) for m in minibatches[:ahead]]
        for i in range(len(minibatches)):
            if i + ahead < len(minibatches):
                pending.append(pool.submit(resolve, minibatches[i + ahead]))
            yield pending[i].result()


def fit_slot(payload, state, minibatches, settings):
    """Fit one worker's share of a round; returns {"params", "updater", "score", "examples",
    "count"} (updater None unless ``settings["save_updater"]``)."""
    network = worker_network(payload)
    load_round(network, state, settings["rng_seed"])
    for minibatch in _prefetched(minibatches, settings["prefetch"]):
        network.fit(minibatch)
    return {"params": trainable_params(network),
            "updater": flat_updater_state(network) if settings["save_updater"] else None,
            "score": float(network.last_score),
            "examples": sum(examples_in(m) for m in minibatches), "count": 1}


def _add(a, b):
    if a is None or b is None:
        return None
    return {key: a[key] + b[key] for key in a}


def sum_results(*results):
    """The slot results summed left to right (parameters, updater states, scores, counts)."""
    total = dict(results[0])
    for other in results[1:]:
        total = {"params": _add(total["params"], other["params"]),
                 "updater": _add(total["updater"], other["updater"]),
                 "score": total["score"] + other["score"],
                 "examples": total["examples"] + other["examples"],
                 "count": total["count"] + other["count"]}
    return total
