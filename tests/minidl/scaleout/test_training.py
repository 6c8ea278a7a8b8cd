"""Parameter averaging on a real LocalCluster (worker processes, 127.0.0.1, no dashboard).

The truth is single-machine training (DL4J's TestCompareParameterAveragingSparkVsSingleMachine):
with averaging frequency 1, SGD and equal shares, the mean of the workers' steps is the step on
the concatenated minibatches; with one worker, any updater (Adam, its state saved) gives the
single-machine trajectory. Frozen layers stay bitwise (3 workers: a mean of 3 float32 copies is
not the identity); two identical runs are identical; uneven data is trained with a warning.
"""

import numpy as np
import pytest

pytest.importorskip("distributed")

from minidl import (Activation, Adam, ComputationGraph, DataSet, DenseLayer, InputType,
                    ListDataSetIterator, LossFunction, MultiDataSet, MultiLayerNetwork, Nesterovs,
                    NeuralNetConfiguration, OutputLayer, Sgd)
from minidl.scaleout import (DaskComputationGraph, DaskMultiLayerNetwork,
                             ParameterAveragingTrainingMaster, cluster_client, worker_count)

TOLERANCE = 1e-5  # DL4J's for dense networks and graphs


@pytest.fixture(scope="module")
def client():
    with cluster_client(workers=2) as c:
        yield c


def _conf(updater, seed=12345):
    return NeuralNetConfiguration.Builder().seed(seed).updater(updater)


def _mln(updater):
    conf = (_conf(updater).list()
            .layer(DenseLayer(n_out=10, activation=Activation.TANH))
            .layer(OutputLayer(n_out=10, activation=Activation.IDENTITY, loss=LossFunction.MSE))
            .set_input_type(InputType.feed_forward(10)).build())
    return MultiLayerNetwork(conf).init()


def _graph(updater):
    conf = (_conf(updater).graph_builder().add_inputs("in")
            .add_layer("0", DenseLayer(n_out=10, activation=Activation.TANH), "in")
            .add_layer("1", OutputLayer(n_out=10, activation=Activation.IDENTITY,
                                        loss=LossFunction.MSE), "0")
            .set_outputs("1").set_input_types(InputType.feed_forward(10)).build())
    return ComputationGraph(conf).init()


def _examples(n, seed):
    rng = np.random.default_rng(seed)
    return DataSet(rng.random((n, 10), dtype=np.float32), rng.random((n, 10), dtype=np.float32))


def _master(workers, batch=10, frequency=1, **settings):
    builder = ParameterAveragingTrainingMaster.Builder(1).batch_size_per_worker(batch) \
        .averaging_frequency(frequency).num_workers(workers).aggregation_depth(2)
    for name, value in settings.items():
        getattr(builder, name)(value)
    return builder.build()


@pytest.mark.parametrize("make, wrapper", [(_mln, DaskMultiLayerNetwork),
                                           (_graph, DaskComputationGraph)])
def test_average_every_step_equals_single_machine_sgd(client, make, wrapper):
    """4 slots x 10 one-example DataSets per round, 3 rounds, against one 40-example batch."""
    rounds = [_examples(40, seed) for seed in (1, 2, 3)]
    single, distributed = make(Sgd(0.5)), make(Sgd(0.5))
    initial = single.params()
    for batch in rounds:
        single.fit(batch)
    spark = wrapper(client, distributed, _master(workers=4))
    examples = [example for batch in rounds for example in batch.as_list()]  # as DL4J's test
    if wrapper is DaskComputationGraph:  # a graph takes MultiDataSets too (fitMultiDataSet)
        examples = [MultiDataSet.from_dataset(example) for example in examples]
    spark.fit(examples)
    assert not np.allclose(single.params(), initial)
    np.testing.assert_allclose(distributed.params(), single.params(), atol=TOLERANCE)
    assert spark.get_score() > 0
    assert spark.get_score() == pytest.approx(single.score(), abs=1e-3)  # DL4J's bar
    assert distributed.get_iteration_count() == 3 and distributed.get_epoch_count() == 1


@pytest.mark.parametrize("make, wrapper", [(_mln, DaskMultiLayerNetwork),
                                           (_graph, DaskComputationGraph)])
def test_one_worker_any_updater_equals_single_machine(client, make, wrapper):
    """Adam's moments and bias correction carry over rounds when the updater is saved."""
    data = _examples(60, 4)
    single, distributed = make(Adam(0.01)), make(Adam(0.01))
    for _ in range(2):
        single.fit(ListDataSetIterator(data, batch_size=10))
    spark = wrapper(client, distributed, _master(workers=1, frequency=2))
    for _ in range(2):
        spark.fit(ListDataSetIterator(data, batch_size=15))  # re-batched to 10 per minibatch
    np.testing.assert_allclose(distributed.params(), single.params(), atol=TOLERANCE)
    assert distributed.get_iteration_count() == single.get_iteration_count() == 12
    assert distributed.get_epoch_count() == 2
    for key, state in single.updater_state.items():
        for name, array in state.items():
            np.testing.assert_allclose(distributed.updater_state[key][name], array, atol=1e-6)


def test_without_saved_updater_every_round_restarts_the_state(client):
    """DL4J's saveUpdater(false): equal to a single machine whose updater is reset each step."""
    data = _examples(40, 5)
    single, distributed = _mln(Nesterovs(0.1, 0.9)), _mln(Nesterovs(0.1, 0.9))
    for batch in data.batch_by(10):
        single.updater_state = {}
        single.fit(batch)
    DaskMultiLayerNetwork(client, distributed,
                          _master(workers=1, save_updater=False)).fit(data.batch_by(10))
    np.testing.assert_allclose(distributed.params(), single.params(), atol=TOLERANCE)
    assert distributed.updater_state == {}


def _frozen_graph():
    conf = (_conf(Nesterovs(0.1)).graph_builder().add_inputs("in")
            .add_layer("base", DenseLayer(n_out=7, activation=Activation.TANH), "in")
            .add_layer("0", DenseLayer(n_out=10, activation=Activation.TANH), "base")
            .add_layer("1", OutputLayer(n_out=10, activation=Activation.IDENTITY,
                                        loss=LossFunction.MSE), "0")
            .set_outputs("1").set_input_types(InputType.feed_forward(10)).build())
    net = ComputationGraph(conf).init()
    net.freeze(["base"])
    return net


def test_frozen_layers_stay_bitwise_and_runs_repeat(client):
    """3 workers (a mean of 3 identical float32 copies moves some by an ulp), 2 rounds."""
    data = [_examples(9, seed) for seed in range(4)]
    runs = []
    for _ in range(2):
        net = _frozen_graph()
        frozen = {k: v.copy() for k, v in net.param_table().items() if k.startswith("base_")}
        trained = {k: v.copy() for k, v in net.param_table().items() if not k.startswith("base")}
        DaskComputationGraph(client, net, _master(workers=3, batch=6, frequency=1)).fit(data)
        for key, value in frozen.items():
            assert net.get_param(key).tobytes() == value.tobytes()
        assert all(not np.array_equal(net.get_param(k), v) for k, v in trained.items())
        runs.append(net.params())
    assert runs[0].tobytes() == runs[1].tobytes()


def test_uneven_data_is_all_trained_with_a_warning(client):
    """39 examples, 2 workers x 2 minibatches x 10: round 0 takes 40 places, 39 arrive; the
    last minibatch has 9 examples. Nothing is dropped: the iteration count says 4 fits."""
    data = _examples(39, 6)
    net = _mln(Sgd(0.1))
    with pytest.warns(UserWarning, match="uneven data, all of it trained.*39 examples"):
        DaskMultiLayerNetwork(client, net, _master(workers=2, frequency=2)).fit([data])
    # the truth: slot 0 fits 20 examples, slot 1 the other 19 as 10 + 9, then a plain mean
    slots = []
    for rows in ((0, 10, 20), (20, 30, 39)):
        local = _mln(Sgd(0.1))
        for a, b in zip(rows, rows[1:]):
            local.fit(data.get_range(a, b))
        slots.append(local.params())
    np.testing.assert_allclose(net.params(), (slots[0] + slots[1]) / 2, atol=TOLERANCE)


def test_fit_from_a_folder_reads_files_on_workers(client, tmp_path):
    """DataSet.save files in a folder, of sizes that are not the minibatch size."""
    data = _examples(40, 7)
    for i, part in enumerate((data.get_range(0, 15), data.get_range(15, 40))):
        part.save(tmp_path / f"part-{i}.npz")
    single, distributed = _mln(Sgd(0.5)), _mln(Sgd(0.5))
    single.fit(data)
    master = _master(workers=4, worker_prefetch_num_batches=2)  # files read ahead
    DaskMultiLayerNetwork(client, distributed, master).fit(str(tmp_path))
    np.testing.assert_allclose(distributed.params(), single.params(), atol=TOLERANCE)


def test_evaluate_and_output_on_workers_equal_the_network(client):
    net = _mln(Sgd(0.5))
    data = _examples(50, 8)
    data.labels = np.eye(10, dtype=np.float32)[np.arange(50) % 10]
    spark = DaskMultiLayerNetwork(client, net)
    expected = net.evaluate(data)
    evaluation = spark.evaluate(data.batch_by(7), batch_size=16)
    assert evaluation.accuracy() == expected.accuracy()
    assert evaluation.get_num_row_counter() == 50
    np.testing.assert_allclose(spark.output(data.features, batch_size=16),
                               net.output(data.features), atol=1e-6)
    keyed = spark.feed_forward_with_key({f"k{i}": data.features[i:i + 1] for i in range(5)})
    np.testing.assert_allclose(keyed["k3"], net.output(data.features[3:4]), atol=1e-6)


def test_dl4j_spelling_and_settings(client):
    tm = (ParameterAveragingTrainingMaster.Builder(3, 16).averagingFrequency(5)
          .batchSizePerWorker(16).workerPrefetchNumBatches(2).saveUpdater(False)
          .aggregationDepth(3).rngSeed(12345).build())
    assert (tm.num_workers, tm.data_set_num_examples, tm.averaging_frequency,
            tm.worker_prefetch_num_batches, tm.save_updater, tm.aggregation_depth,
            tm.rng_seed) == (3, 16, 5, 2, False, 3, 12345)
    assert ParameterAveragingTrainingMaster.Builder(16).build().save_updater is True
    net = _mln(Sgd(0.1))
    spark = DaskMultiLayerNetwork(client, net, tm)
    assert spark.getNetwork() is net and spark.getTrainingMaster() is tm
    with pytest.raises(TypeError, match="DaskComputationGraph takes a ComputationGraph"):
        DaskComputationGraph(client, net, tm)
    with pytest.raises(ValueError, match="averaging_frequency must be an int >= 1"):
        ParameterAveragingTrainingMaster.Builder(16).averaging_frequency(0).build()


def test_files_the_workers_cannot_see_fail_before_training(client, tmp_path, monkeypatch):
    from minidl.scaleout import cluster
    _examples(10, 9).save(tmp_path / "part-0.npz")
    net = _mln(Sgd(0.5))
    before = net.params()
    # as a worker on another machine: the file is not at that path there
    monkeypatch.setattr(client, "run", lambda function, paths: {"tcp://elsewhere:1": paths})
    with pytest.raises(FileNotFoundError, match="every Dask worker sees.*elsewhere.*part-0.npz"):
        DaskMultiLayerNetwork(client, net, _master(workers=2)).fit(str(tmp_path))
    assert net.params().tobytes() == before.tobytes()
    assert cluster._missing([str(tmp_path / "part-0.npz"), str(tmp_path / "nope")]) == \
        [str(tmp_path / "nope")]


def test_a_network_that_cannot_be_sent_names_the_layer(client):
    import threading
    net = _graph(Sgd(0.5))
    object.__setattr__(net.get_layer("0"), "lock", threading.Lock())
    with pytest.raises(TypeError, match="layer .*'0'.* cannot be serialized"):
        DaskComputationGraph(client, net, _master(workers=2)).fit([_examples(20, 1)])


def test_a_killed_worker_loses_nothing(client):
    """A worker SIGKILLed during training: its slots run again elsewhere, bitwise the same."""
    import os
    import signal
    import threading
    import time
    data = [_examples(20, seed) for seed in range(12)]

    def train(master):
        net = _mln(Nesterovs(0.1, 0.9))
        DaskMultiLayerNetwork(client, net, master).fit(data)
        return net.params()
    expected = train(_master(workers=2))
    master, killed = _master(workers=2), []

    def kill_after_the_first_round():
        while not master.round_times:
            time.sleep(0.001)
        os.kill(max(client.run(os.getpid).values()), signal.SIGKILL)
        killed.append(len(master.round_times))
    killer = threading.Thread(target=kill_after_the_first_round)
    killer.start()
    got = train(master)
    killer.join()
    assert killed and killed[0] < len(master.round_times) == 12
    assert got.tobytes() == expected.tobytes()
    deadline = time.time() + 30
    while len(client.run(os.getpid)) < 2 and time.time() < deadline:
        time.sleep(0.1)


def test_cluster_client_for_the_cli(client):
    with cluster_client() as none:
        assert none is None  # neither --workers nor --scheduler: one process
    with cluster_client(scheduler=client.scheduler.address) as other:
        assert worker_count(other) == 2 and other.scheduler.address == client.scheduler.address
    with pytest.raises(ValueError, match="not both"):
        with cluster_client(workers=2, scheduler=client.scheduler.address):
            pass


def test_evaluation_names_the_classes_of_a_featurized_folder(client, tmp_path):
    import json
    net = _mln(Sgd(0.5))
    data = _examples(12, 10)
    data.labels = np.eye(10, dtype=np.float32)[np.arange(12) % 10]
    data.save(tmp_path / "shard-00000.npz")
    names = [f"class{i}" for i in range(10)]
    (tmp_path / "manifest.json").write_text(json.dumps({"label_names": names}))
    evaluation = DaskMultiLayerNetwork(client, net).evaluate(str(tmp_path))
    assert evaluation.get_num_row_counter() == 12 and "class3" in evaluation.stats()
    assert evaluation.accuracy() == net.evaluate(data).accuracy()


def test_workers_forget_the_network_after_a_fit(client):
    from minidl.scaleout import shipping
    DaskMultiLayerNetwork(client, _mln(Sgd(0.5)), _master(workers=2)).fit([_examples(40, 11)])
    assert set(client.run(lambda: len(shipping._CACHE)).values()) == {0}
