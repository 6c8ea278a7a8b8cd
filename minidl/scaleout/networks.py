"""``DaskComputationGraph`` and ``DaskMultiLayerNetwork``: DL4J's Spark wrappers on Dask.

Each holds a ``dask.distributed.Client``, the master network (on the driver, trained in place)
and a ``ParameterAveragingTrainingMaster``. Training, evaluation and inference run on the
cluster's workers; ``get_network()`` is the trained network, to save with ``ModelSerializer``.

    tm = ParameterAveragingTrainingMaster.Builder(16).averaging_frequency(5) \\
        .batch_size_per_worker(16).build()
    spark_net = DaskComputationGraph(client, helper.unfrozen_graph(), tm)
    spark_net.fit("features/train")              # a featurized folder (or saved DataSets)
    print(spark_net.evaluate("features/test").stats())
"""

import os

import numpy as np

from minidl.naming import Dl4jNames
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork
from minidl.scaleout import data as scaleout_data

EVAL_BATCH_SIZE = 64  # DL4J's DEFAULT_EVAL_SCORE_BATCH_SIZE


class _DaskNetwork(Dl4jNames):
    """What both wrappers share; a subclass names the network class it takes."""

    network_class = None

    def __init__(self, client, network, training_master=None):
        if not isinstance(network, self.network_class):
            raise TypeError(f"{type(self).__name__} takes a {self.network_class.__name__}, got "
                            f"{type(network).__name__}")
        network.init()  # as DL4J: a no-op on an initialised network
        self.client, self.network, self.training_master = client, network, training_master
        self.score = None

    # -- training --------------------------------------------------------------------------
    def fit(self, data):
        """One pass over ``data`` (a list of DataSets / MultiDataSets, an iterator of them, or a
        folder path: ``fit_paths``); returns the trained network. Epoch count += 1."""
        if isinstance(data, (str, os.PathLike)):
            return self.fit_paths(scaleout_data.folder_files(data))
        return self._train(scaleout_data.minibatches(scaleout_data.source_objects(data),
                                                     self._master().batch_size_per_worker))

    def fit_paths(self, paths):
        """One pass over saved files (featurized shards or ``DataSet.save`` output) in the given
        order; the workers read them, the driver only reads their example counts."""
        from minidl.scaleout.cluster import check_files_visible
        paths = [os.path.abspath(p) for p in paths]
        check_files_visible(self.client, paths)
        return self._train(scaleout_data.file_minibatches(paths,
                                                          self._master().batch_size_per_worker))

    fit_multi_data_set = fit

    def _train(self, minibatches):
        self._master().execute_training(self.client, self.network, minibatches)
        self.network.epoch_count += 1
        self.score = self.network.last_score
        return self.network

    def _master(self):
        if self.training_master is None:
            raise ValueError(f"{type(self).__name__} was made without a training master: pass "
                             f"ParameterAveragingTrainingMaster.Builder(n)...build() to train")
        return self.training_master

    # -- accessors -------------------------------------------------------------------------
    def get_network(self):
        """The master network, with the trained parameters."""
        return self.network

    def set_network(self, network):
        self.network = network

    def get_training_master(self):
        return self.training_master

    def get_score(self):
        """The mean over workers of each one's last minibatch score in the last round."""
        return self.score

    # -- evaluation and inference ----------------------------------------------------------
    def evaluate(self, data, labels_list=None, batch_size=EVAL_BATCH_SIZE):
        """An Evaluation of ``data`` (list, iterator or folder, as ``fit``) computed on the
        workers in minibatches of ``batch_size``, merged in data order. The class names are
        ``labels_list``, else the iterator's or the featurized folder's."""
        from minidl.scaleout.inference import evaluate_on_cluster
        if labels_list is None:  # DL4J: the data's class names, as Network.evaluate takes them
            labels_list = scaleout_data.label_names(data)
        return evaluate_on_cluster(self.client, self.network, self._batches(data, batch_size),
                                   labels_list)

    def output(self, data, batch_size=EVAL_BATCH_SIZE):
        """The network's outputs for ``data``, computed on the workers: one array per output,
        examples in order (a single array for one output). ``data``: a features array, a
        list of them (batches, for a one-input network), DataSets / MultiDataSets (labels not
        needed), an iterator, or a folder."""
        from minidl.scaleout.inference import outputs_on_cluster
        if hasattr(data, "shape"):
            data = [data]
        if isinstance(data, list) and data and hasattr(data[0], "shape"):
            data = [_features_only(x) for x in data]
        outputs = outputs_on_cluster(self.client, self.network, self._batches(data, batch_size))
        return outputs[0] if len(outputs) == 1 else outputs

    def feed_forward_with_key(self, keyed_features, batch_size=EVAL_BATCH_SIZE):
        """DL4J's ``feedForwardWithKey``: {key: output} for {key: features} (or (key, features)
        pairs), each features array one example with its batch axis ([1, ...]), computed on
        the workers. Each output keeps that axis, as DL4J's rows do."""
        pairs = list(keyed_features.items() if hasattr(keyed_features, "items")
                     else keyed_features)
        if not pairs:
            return {}
        for key, x in pairs:
            if np.shape(x)[:1] != (1,):
                raise ValueError(f"feed_forward_with_key: the features of key {key!r} have shape "
                                 f"{np.shape(x)}; each key takes one example [1, ...]")
        outputs = self.output(np.concatenate([np.asarray(x) for _, x in pairs]), batch_size)
        first = outputs[0] if isinstance(outputs, list) else outputs
        return {key: first[i:i + 1] for i, (key, _) in enumerate(pairs)}

    def _batches(self, data, batch_size):
        if isinstance(data, (str, os.PathLike)):
            from minidl.scaleout.cluster import check_files_visible
            paths = [os.path.abspath(p) for p in scaleout_data.folder_files(data)]
            check_files_visible(self.client, paths)
            return scaleout_data.file_minibatches(paths, batch_size)
        return scaleout_data.minibatches(scaleout_data.source_objects(data), batch_size)


def _features_only(features):
    from minidl.data.dataset import DataSet
    return DataSet(features)


class DaskComputationGraph(_DaskNetwork):
    """DL4J's ``SparkComputationGraph(sc, graph, trainingMaster)`` on a Dask client."""

    network_class = ComputationGraph


class DaskMultiLayerNetwork(_DaskNetwork):
    """DL4J's ``SparkDl4jMultiLayer(sc, network, trainingMaster)`` on a Dask client."""

    network_class = MultiLayerNetwork
