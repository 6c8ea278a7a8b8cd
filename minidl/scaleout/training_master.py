"""DL4J's ``ParameterAveragingTrainingMaster`` on Dask: rounds of local fits, then a mean.

One ``fit`` is a pass over the data in rounds. In each round the driver

1. sends the parameters of the non-frozen layers, the updater state and the counters (one
   payload each worker fetches once, ``cluster.ship``; the network itself went once per
   ``fit``);
2. gives worker slot ``w`` the ``w``-th ``averaging_frequency`` consecutive minibatches of the
   round (``minidl.scaleout.data``), each fitted by ``network.fit`` as on one machine;
3. sums the slots' parameters and updater states in a fixed tree (fan-in from
   ``aggregation_depth``, slots in order, on the workers), divides by the slots that trained,
   and writes the mean back: parameters of frozen layers are never averaged, so they stay
   bitwise the driver's (DL4J averaged them: deeplearning4j#3351);
4. adds ``averaging_frequency`` to the iteration count and sets the score to the slots' mean.

Uneven data is trained, never dropped: the last round may have fewer minibatches than
``num_workers x averaging_frequency`` (then fewer slots train, and the mean is over those) and
the last minibatch may be smaller; a warning says so, since such a round is not the same as
training on one machine.
"""

import itertools
import math
import time
import uuid
import warnings

from minidl.naming import Dl4jNames
from minidl.scaleout.data import examples_in


class ParameterAveragingTrainingMaster(Dl4jNames):
    """How ``DaskComputationGraph.fit`` / ``DaskMultiLayerNetwork.fit`` train (module docstring).

    ``data_set_num_examples`` is DL4J's ``rddDataSetNumExamples``, the examples per given
    object. It is kept for DL4J code; minidl counts the examples itself (the objects are merged
    and split to ``batch_size_per_worker`` whatever their size). ``save_updater`` defaults to
    True, as DL4J's documentation says (its code defaults to false): the updater state (momentum,
    Adam's moments) is averaged like the parameters; with False every round starts from the
    driver's updater state, which then never changes. ``rng_seed`` seeds the workers' dropout
    masks (DL4J's seeds its random split into rounds; rounds here take the data in order).
    ``num_workers`` None: the workers in the cluster at each ``fit``.
    """

    def __init__(self, data_set_num_examples, batch_size_per_worker=16, averaging_frequency=5,
                 worker_prefetch_num_batches=0, save_updater=True, aggregation_depth=2,
                 rng_seed=None, num_workers=None):
        for name, value, least in (("data_set_num_examples", data_set_num_examples, 1),
                                   ("batch_size_per_worker", batch_size_per_worker, 1),
                                   ("averaging_frequency", averaging_frequency, 1),
                                   ("worker_prefetch_num_batches", worker_prefetch_num_batches, 0),
                                   ("aggregation_depth", aggregation_depth, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"ParameterAveragingTrainingMaster: {name} must be an int >= "
                                 f"{least}, got {value!r}")
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 1):
            raise ValueError(f"ParameterAveragingTrainingMaster: num_workers must be an int >= 1 "
                             f"(or None: the cluster's workers), got {num_workers!r}")
        self.data_set_num_examples = data_set_num_examples
        self.batch_size_per_worker = batch_size_per_worker
        self.averaging_frequency = averaging_frequency
        self.worker_prefetch_num_batches = worker_prefetch_num_batches
        self.save_updater = bool(save_updater)
        self.aggregation_depth = aggregation_depth
        self.rng_seed = rng_seed
        self.num_workers = num_workers
        self.round_times = []  # per round: seconds (broadcast + fit + average), for benchmarks

    def __repr__(self):
        return (f"ParameterAveragingTrainingMaster(batch_size_per_worker="
                f"{self.batch_size_per_worker}, averaging_frequency={self.averaging_frequency}, "
                f"save_updater={self.save_updater}, aggregation_depth={self.aggregation_depth}, "
                f"num_workers={self.num_workers})")

    # -- one fit ---------------------------------------------------------------------------
    def execute_training(self, client, network, minibatches):
        """Train ``network`` (on the driver, updated in place) on the stream ``minibatches``."""
        from minidl.scaleout.cluster import ship, worker_count
        from minidl.scaleout.shipping import forget, pack
        workers = self.num_workers or worker_count(client)
        packed = pack(network)
        payload = ship(client, packed, "network")
        run, stream, uneven = uuid.uuid4().hex[:8], iter(minibatches), []
        try:
            for index in itertools.count():
                shares = self._next_round(stream, workers)
                if not shares:
                    break
                uneven += self._unevenness(index, shares, workers)
                started = time.perf_counter()
                self._round(client, network, payload, shares, (run, index))
                self.round_times.append(time.perf_counter() - started)
        finally:
            client.cancel([payload])
            forget(client, packed)
        if uneven:
            warnings.warn(f"ParameterAveragingTrainingMaster: uneven data, all of it trained: "
                          f"{'; '.join(uneven)}. A mean over uneven shares is not single-machine "
                          f"training on those examples (DL4J drops or repartitions such data)",
                          stacklevel=3)

    def _next_round(self, stream, workers):
        """The next round's shares: up to ``workers`` lists of ``averaging_frequency``
        consecutive minibatches (fewer, and a shorter last one, at the end of the data)."""
        frequency = self.averaging_frequency
        taken = list(itertools.islice(stream, workers * frequency))
        return [taken[i:i + frequency] for i in range(0, len(taken), frequency)]

    def _unevenness(self, index, shares, workers):
        """Why round ``index`` is uneven ([] when every slot of ``workers`` gets full
        minibatches)."""
        examples = [sum(examples_in(m) for m in share) for share in shares]
        full = self.batch_size_per_worker * self.averaging_frequency
        if len(shares) == workers and all(n == full for n in examples):
            return []
        return [f"round {index} has {sum(examples)} examples for {workers} workers x "
                f"{self.averaging_frequency} minibatches x {self.batch_size_per_worker}, "
                f"trained by {len(shares)} worker(s) with {examples} examples"]

    def _round(self, client, network, payload, shares, name):
        """One averaging round (module docstring, steps 1-4); ``name`` is (run, round index)."""
        from minidl.scaleout.cluster import ship
        from minidl.scaleout.worker import fit_slot
        run, index = name
        state = ship(client, round_state(network), f"state-{run}-r{index}")
        settings = {"save_updater": self.save_updater, "prefetch": self.worker_prefetch_num_batches}
        slots = [client.submit(fit_slot, payload, state, share,
                               {**settings, "rng_seed": self._slot_seed(network, index, w)},
                               key=f"minidl-fit-{run}-r{index}-slot{w}")
                 for w, share in enumerate(shares)]
        total = tree_sum(client, slots, self.aggregation_depth, f"{run}-r{index}").result()
        client.cancel([state, *slots])
        apply_mean(network, total, self.save_updater, self.averaging_frequency)

    def _slot_seed(self, network, index, slot):
        """The seed of slot ``slot``'s dropout masks in round ``index``: fixed by the network's
        seed and ``rng_seed``, so two runs draw the same masks whichever worker runs a slot."""
        return [int(network.conf.seed or 0) + 1, int(self.rng_seed or 0), index, slot]


class _Builder(Dl4jNames):
    """DL4J's ``ParameterAveragingTrainingMaster.Builder``: ``Builder(data_set_num_examples)``
    or ``Builder(num_workers, data_set_num_examples)``, then the settings, then ``build()``."""

    def __init__(self, *args):
        if len(args) not in (1, 2):
            raise TypeError("ParameterAveragingTrainingMaster.Builder(data_set_num_examples) or "
                            "Builder(num_workers, data_set_num_examples)")
        self._settings = {"data_set_num_examples": args[-1]}
        if len(args) == 2:
            self._settings["num_workers"] = args[0]

    def _set(name):
        def setter(self, value):
            self._settings[name] = value
            return self
        setter.__name__ = name
        setter.__doc__ = f"Set ``{name}`` (see ParameterAveragingTrainingMaster); returns self."
        return setter

    batch_size_per_worker = _set("batch_size_per_worker")
    averaging_frequency = _set("averaging_frequency")
    worker_prefetch_num_batches = _set("worker_prefetch_num_batches")
    save_updater = _set("save_updater")
    aggregation_depth = _set("aggregation_depth")
    rng_seed = _set("rng_seed")
    num_workers = _set("num_workers")
    del _set

    def build(self):
        return ParameterAveragingTrainingMaster(**self._settings)


ParameterAveragingTrainingMaster.Builder = _Builder


def round_state(network):
    """What a round sends: non-frozen parameters, the updater state (DL4J sends it whatever
    ``save_updater`` says) and the counters."""
    from minidl.scaleout.worker import flat_updater_state, trainable_params
    return {"params": trainable_params(network),  # copies: the driver's arrays change later
            "updater": flat_updater_state(network),
            "iteration": network.iteration_count, "epoch": network.epoch_count}


def tree_sum(client, futures, depth, name):
    """A future of the sum of ``futures`` by a fixed tree: groups of ``fan_in`` consecutive
    results (Spark's treeAggregate scale, ceil(n ** (1 / depth)), at least 2), level by level.
    The shape depends only on the count and depth, so the float sums are the same every run."""
    from minidl.scaleout.worker import sum_results
    fan_in = max(2, math.ceil(len(futures) ** (1.0 / depth)))
    level = 0
    while len(futures) > 1 or level == 0:
        futures = [client.submit(sum_results, *futures[i:i + fan_in],
                                 key=f"minidl-sum-{name}-l{level}-{i}")
                   for i in range(0, len(futures), fan_in)]
        level += 1
    return futures[0]


def apply_mean(network, total, save_updater, frequency):
    """Write the mean of the summed slot results into the driver's network."""
    count = total["count"]
    for key, value in total["params"].items():
        network.set_param(key, (value / count).astype(network.get_param(key).dtype))
    if save_updater and total["updater"] is not None:
        from minidl.nn import model_file
        flat = {k: (v / count).astype(v.dtype) for k, v in total["updater"].items()}
        network.updater_state = model_file._nested_updater_state(network, flat,
                                                                 "the averaged updater state")
    network.iteration_count += frequency
    network.last_score = total["score"] / count
