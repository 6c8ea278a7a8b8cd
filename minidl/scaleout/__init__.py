"""Scale-out on Dask distributed: DL4J's Spark training API (parameter averaging) and the
cluster helpers that distributed featurization (``transfer.featurize_to_disk(...,
client=...)``) uses.

``import minidl.scaleout`` does not import Dask; using a Dask client does.

- ``ParameterAveragingTrainingMaster`` (and its ``Builder``): how training is split in rounds;
- ``DaskComputationGraph``, ``DaskMultiLayerNetwork``: ``SparkComputationGraph`` /
  ``SparkDl4jMultiLayer`` on a ``dask.distributed.Client``;
- ``cluster_client(workers=None, scheduler=None)``: a context manager giving a client for a
  local cluster of worker processes or an existing scheduler (None for neither);
- ``check_shared_directory(client, directory)``: every worker sees ``directory``.
"""

from minidl.scaleout.cluster import check_shared_directory, cluster_client, worker_count
from minidl.scaleout.networks import DaskComputationGraph, DaskMultiLayerNetwork
from minidl.scaleout.training_master import ParameterAveragingTrainingMaster

__all__ = ["ParameterAveragingTrainingMaster", "DaskComputationGraph", "DaskMultiLayerNetwork",
           "cluster_client", "check_shared_directory", "worker_count"]
