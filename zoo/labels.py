"""ImageNet class names for a network's predictions (DL4J's ``ImageNetLabels``).

``ImageNetLabels()`` reads ``imagenet_class_index.json``, the Keras file that maps each class
index to its WordNet id and name (``{"0": ["n01440764", "tench"], ...}``), from
``$MINIDL_HOME/datasets/imagenet/``. The first use downloads it (md5 checked) from Keras' server,
where the weights come from too: it is the file DL4J's ``ImageNetLabels`` fetches from DL4J's
resource server, and checks with the same md5. Offline, the error says where to put it by hand.

``decode_predictions(predictions)`` is DL4J's text (the five likeliest classes of each example,
as percentages); ``decode_predictions(predictions, n)`` gives the n likeliest as
``ClassPrediction`` objects.
"""

import dataclasses
import json

import numpy as np

from minidl.backend import to_cpu
from minidl.io import datasets_dir, download
from minidl.naming import Dl4jNames

CLASS_INDEX_URL = ("https://storage.googleapis.com/download.tensorflow.org/data/"
                   "imagenet_class_index.json")
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"  # DL4J's ImageNetLabels.resourceMD5()

DESCRIBED_CLASSES = 5  # how many classes the text of decode_predictions lists, as in DL4J


@dataclasses.dataclass(frozen=True)
class ClassPrediction(Dl4jNames):
    """One guess for one example: class ``number``, its ``label`` and the ``probability`` the
    network gave it (DL4J's ``ClassPrediction``)."""

    number: int
    label: str
    probability: float

    def __str__(self):  # DL4J's toString
        return (f"ClassPrediction(number={self.number},label={self.label},"
                f"probability={self.probability})")


class ImageNetLabels(Dl4jNames):
    """The names of the 1000 ImageNet classes, by class index (DL4J's ``ImageNetLabels``).

    ``labels`` lists them in class order; ``get_label(i)`` names class i; ``decode_predictions``
    names the likeliest classes of each row of a [batch, 1000] probability array (a pretrained
    VGG16's ``predictions`` output).
    """

    def __init__(self):
        path = download(CLASS_INDEX_URL, datasets_dir() / "imagenet" / "imagenet_class_index.json",
                        checksum=CLASS_INDEX_MD5, algorithm="md5", progress=False)
        self.labels = read_class_index(path)

    def get_label(self, n):
        """The name of class ``n`` (0-based)."""
        if not 0 <= n < len(self.labels):
            raise IndexError(f"ImageNetLabels: no class {n}; classes are 0 to "
                             f"{len(self.labels) - 1}")
        return self.labels[n]

    def decode_predictions(self, predictions, n=None):
        """The likeliest classes of each example in ``predictions`` ([batch, classes], or one
        example's [classes]).

        Without ``n``, DL4J's text: per example a line ``Predictions for batch <i> :`` (the
        number only when there are several), then a line ``\\t<percent>%, <label>`` for each of
        the five likeliest classes. With ``n``, a list per example of its ``n`` likeliest
        ``ClassPrediction``s, most likely first (DL4J's ``decodePredictions(predictions, n)``).
        """
        rows = self._rows(predictions)
        if n is None:
            return "\n".join(self._describe(row, index, len(rows))
                             for index, row in enumerate(rows))
        return [[ClassPrediction(int(k), self.labels[k], float(row[k])) for k in _likeliest(row, n)]
                for row in rows]

    def _rows(self, predictions):
        rows = to_cpu(predictions)
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.ndim != 2 or rows.shape[1] != len(self.labels):
            raise ValueError(f"ImageNetLabels.decode_predictions: expected [batch, "
                             f"{len(self.labels)}] class probabilities, got shape {rows.shape}")
        return rows

    def _describe(self, row, index, n_rows):
        lines = [f"Predictions for batch {index if n_rows > 1 else ''} :"]
        for k in _likeliest(row, DESCRIBED_CLASSES):
            # DL4J multiplies the float32 probability by 100 in float32 and prints it with "%3f"
            percent = float(np.float32(row[k]) * np.float32(100))
            lines.append(f"\t{percent:3f}%, {self.labels[k]}")
        return "\n".join(lines)


def _likeliest(row, n):
    """Indices of the ``n`` largest values of ``row``, largest first; ties keep class order."""
    return np.argsort(-row, kind="stable")[:n]


def read_class_index(path):
    """Class names in index order from a Keras class index file (``{"0": [wnid, name], ...}``)."""
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    try:
        return [index[str(k)][1] for k in range(len(index))]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"{path}: not a class index: expected {{\"0\": [wordnet_id, name], "
                         f"\"1\": ...}} with keys 0 to {len(index) - 1}") from None
