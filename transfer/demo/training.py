"""The demo's sizes (full and fast) and what its steps share: epochs of minibatch training and
test accuracy."""

import numpy as np
from tqdm import tqdm

from minidl.backend import to_cpu

FULL = {"source_per_class": 100, "source_epochs": 6, "target_train_per_class": 4,
        "target_test_per_class": 40, "head_epochs": 40, "fine_tune_epochs": 10,
        "scratch_epochs": 50, "batch_size": 32}
FAST = {"source_per_class": 60, "source_epochs": 6, "target_train_per_class": 4,
        "target_test_per_class": 20, "head_epochs": 30, "fine_tune_epochs": 3,
        "scratch_epochs": 30, "batch_size": 32}


def train_epochs(fit, data, epochs, batch_size, seed, progress, label, after_epoch=None):
    """``epochs`` passes of ``fit(minibatch)`` over ``data``, reshuffled (by seed) every epoch;
    ``after_epoch(epoch)`` after each pass."""
    for epoch in tqdm(range(epochs), desc=label, unit="epoch", disable=not progress, leave=False):
        shuffled = data.copy()
        shuffled.shuffle(seed + epoch)
        for batch in shuffled.batch_by(batch_size):
            fit(batch)
        if after_epoch is not None:
            after_epoch(epoch)


def accuracy(net, data, featurized_helper=None):
    """Test accuracy of ``net`` on a DataSet (or of a helper's unfrozen part on features)."""
    if featurized_helper is not None:
        predictions = featurized_helper.output_from_featurized(data.features)
    else:
        predictions = net.output_single(data.features)
    # Outputs stay where the network computed them (the GPU, maybe): compare on the host.
    predictions, labels = to_cpu(predictions), to_cpu(data.labels)
    return float(np.mean(np.argmax(predictions, 1) == np.argmax(labels, 1)))
