"""Learning: updaters (Sgd, Nesterovs, Adam, RmsProp, AdaGrad, NoOp) and regularization."""

from minidl.learning.updaters import IUpdater, Sgd, Nesterovs, Adam, RmsProp, AdaGrad, NoOp
from minidl.learning.regularization import (Regularization, L1Regularization, L2Regularization,
                                            WeightDecay, L1, L2, BEFORE_UPDATER, AFTER_UPDATER)
from minidl.learning.step import apply_update, compute_update, regularization_score
