"""DataSet: a minibatch (or a whole small dataset) of features with their labels.

Features follow DL4J's layouts: [batch, n_in] for dense input, [batch, channels, height, width]
for images. Labels are [batch, n_classes] one-hot rows for classification.
"""

import numpy as np

from minidl.naming import Dl4jNames


class DataSet(Dl4jNames):
    """Features [batch, ...] and labels [batch, n_out]; DL4J's getters work too."""

    def __init__(self, features=None, labels=None, features_mask=None, labels_mask=None):
        self.features = features
        self.labels = labels
        self.features_mask = features_mask
        self.labels_mask = labels_mask

    def get_features(self):
        return self.features

    def get_labels(self):
        return self.labels

    def set_features(self, features):
        self.features = features

    def set_labels(self, labels):
        self.labels = labels

    def num_examples(self):
        return 0 if self.features is None else int(self.features.shape[0])

    def num_outcomes(self):
        return 0 if self.labels is None else int(self.labels.shape[1])

    def __len__(self):
        return self.num_examples()

    def __repr__(self):
        shape = lambda a: None if a is None else tuple(a.shape)  # noqa: E731
        return f"DataSet(features={shape(self.features)}, labels={shape(self.labels)})"

    def copy(self):
        dup = lambda a: None if a is None else a.copy()  # noqa: E731
        return DataSet(dup(self.features), dup(self.labels), dup(self.features_mask),
                       dup(self.labels_mask))

    dup = copy


def as_float32(a):
    """``a`` as a float32 NumPy array (images and labels arrive as uint8 or float64)."""
    return np.asarray(a, dtype=np.float32)
