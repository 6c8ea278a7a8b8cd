"""Evaluation and inference on the workers: the network goes once, minibatches are mapped, and
the results come back in data order (DL4J's ``doEvaluation`` and ``feedForwardWithKey``)."""

from collections import deque

import numpy as np

from minidl.backend import to_cpu
from minidl.data.dataset import as_list
from minidl.scaleout.data import resolve
from minidl.scaleout.shipping import forget, pack, worker_network


def _evaluate_batch(payload, minibatch, labels_list):
    from minidl.eval import Evaluation
    network, batch = worker_network(payload), resolve(minibatch)
    evaluation = Evaluation(labels=labels_list)
    evaluation.eval(to_cpu(as_list(batch.labels)[0]),
                    to_cpu(network.output_arrays(as_list(batch.features))[0]))
    return evaluation


def _output_batch(payload, minibatch):
    network, batch = worker_network(payload), resolve(minibatch)
    return [to_cpu(a) for a in network.output_arrays(as_list(batch.features))]


def ordered_map(client, function, payload, items, *args, window=None):
    """``function(payload_future, item, *args)`` for every item on the workers, results in
    item order; at most ``window`` tasks in flight (the items are read lazily)."""
    from minidl.scaleout.cluster import ship, worker_count
    window = window or 4 * worker_count(client)
    shipped = ship(client, payload, "network")
    pending = deque()
    try:
        for item in items:
            pending.append(client.submit(function, shipped, item, *args, pure=False))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        client.cancel([shipped, *pending])
        forget(client, payload)


def evaluate_on_cluster(client, network, minibatches, labels_list=None):
    """One Evaluation of every minibatch, evaluated on the workers and merged in order."""
    from minidl.eval import Evaluation
    total = None
    for part in ordered_map(client, _evaluate_batch, pack(network), minibatches, labels_list):
        if total is None:
            total = part
        else:
            total.merge(part)
    return total if total is not None else Evaluation(labels=labels_list)


def outputs_on_cluster(client, network, minibatches):
    """One array per network output: the outputs of every minibatch, concatenated in order."""
    parts = list(ordered_map(client, _output_batch, pack(network), minibatches))
    if not parts:
        raise ValueError("output: no data")
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
