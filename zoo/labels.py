"""ImageNet class names for a network's predictions (DL4J's ``ImageNetLabels``).

The 1000 names ship inside the package (``zoo/data/imagenet_classes.txt``, one a line, in the
standard synset order that Keras' ``imagenet_class_index.json``, torchvision's weights and DL4J's
``ImageNetLabels`` share: 0 tench, 1 goldfish, ..., 999 toilet tissue), so naming a prediction
needs no download. The text is torchvision's spelling of the names (spaces, and the two
"crane"s and "maillot"s told apart), taken from its ``_IMAGENET_CATEGORIES``.

``decode_predictions(predictions)`` is DL4J's text (the five likeliest classes of each example,
as percentages); ``decode_predictions(predictions, n)`` gives the n likeliest as
``ClassPrediction`` objects. ``read_class_index(path)`` reads a Keras class index file, for
whoever has one with other names.
"""

import dataclasses
import json
from importlib import resources

import numpy as np

from minidl.backend import to_cpu
from minidl.naming import Dl4jNames

CLASS_NAMES_FILE = "imagenet_classes.txt"  # in the package's data folder, zoo/data/

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

    ``ImageNetLabels()`` holds the shipped names; ``ImageNetLabels(names)`` any other list (e.g.
    ``read_class_index(path)``'s). ``labels`` lists them in class order; ``get_label(i)``
    names class i; ``decode_predictions`` names the likeliest classes of each row of a
    [batch, 1000] probability array (a pretrained VGG16's ``predictions`` output).
    """

    def __init__(self, labels=None):
        self.labels = list(labels) if labels is not None else shipped_class_names()

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


def shipped_class_names():
    """The 1000 ImageNet class names shipped with the package, in class index order."""
    text = resources.files("zoo").joinpath("data", CLASS_NAMES_FILE).read_text(encoding="utf-8")
    return text.splitlines()
