"""Networks: MultiLayerNetwork, ComputationGraph, their configuration and listeners."""

from minidl.nn.conf import *  # noqa: F401,F403 - the configuration vocabulary
from minidl.nn.multilayer import MultiLayerNetwork
from minidl.nn.graph import ComputationGraph
from minidl.nn.listeners import (TrainingListener, ScoreIterationListener, PerformanceListener,
                                 CollectScoresListener)
from minidl.nn.tensorboard import TensorBoardListener
