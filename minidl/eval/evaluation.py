"""Evaluation: classification metrics accumulated over batches, as DL4J's ``Evaluation``.

Everything is derived from one confusion matrix ``C`` (rows: actual class, columns: predicted
class), which ``get_confusion_matrix()`` returns as an int NumPy array: DL4J's
``getConfusionMatrix().getCount(actual, predicted)`` is ``C[actual, predicted]``,
``getActualTotal(k)`` is ``C[k].sum()`` and ``getPredictedTotal(k)`` is ``C[:, k].sum()``.
For class ``k``: ``TP = C[k, k]``, ``FP = column k minus TP``, ``FN = row k minus TP``,
``TN = total - TP - FP - FN``. Then, as in DL4J:

- ``accuracy = trace(C) / total``;
- ``precision(k) = TP / (TP + FP)``, ``recall(k) = TP / (TP + FN)``,
  ``false_positive_rate(k) = FP / (FP + TN)``, ``false_negative_rate(k) = FN / (FN + TP)``,
  each 0 when 0/0; ``f1(k) = 2 p r / (p + r)``, 0 when p or r is 0/0;
  ``g_measure(k) = sqrt(p r)`` (p, r as above, so 0 when either is 0/0);
- ``matthews_correlation(k) = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``, the
  binary (class k against the rest) coefficient, NaN when the denominator is 0 (class k never
  predicted, never seen, or predicted for every example ...);
- a method called without a class: with 2 classes it reports the positive class (class 1 unless
  ``binary_positive_class`` says otherwise; None asks for averages); otherwise it averages over
  the classes, macro (the default) or micro (``averaging=EvaluationAveraging.Micro`` or
  ``"micro"``; DL4J's positional ``precision(EvaluationAveraging.Micro)`` works too);
- macro precision, recall and F1 are the mean over the classes where the value is defined: a
  class never predicted is left out of the average precision, a class with no examples out of
  the average recall, either out of the average F1. Macro false positive / negative rates,
  G-measure and MCC are the mean over every class (so one NaN MCC makes the average NaN);
- micro averages apply the per-class formula to the counts summed over the classes (micro
  precision, recall and F1 all equal the accuracy for single-label data).

Deliberate differences from DL4J: ``stats()`` prints the same figures ``precision()``,
``recall()`` and ``f1()`` return (DL4J prints macro precision/recall beside a class-1 F1 for
binary problems while saying all three are for class 1); the confusion table's column width
fits its largest number (DL4J's is one short for counts that are powers of 10); the micro false
negative rate is summed FN / (FN + TP), where DL4J divides by FN + TN.
"""

import math

import numpy as np

from minidl.backend import to_cpu
from minidl.eval import report
from minidl.naming import Dl4jNames
from minidl.nn.conf.enums import Dl4jEnum

CONFUSION_PRINT_MAX_CLASSES = report.CONFUSION_PRINT_MAX_CLASSES  # DL4J's name


class EvaluationAveraging(Dl4jEnum):
    """How a metric is averaged over the classes (DL4J's ``EvaluationAveraging``): ``Macro``, the
    mean of the per-class values; ``Micro``, the metric of the counts summed over the classes."""

    Macro = "macro"
    Micro = "micro"


def _ratio(num, den, edge):
    return num / den if den else edge


def _f_beta(beta, precision, recall):
    if precision == 0.0 or recall == 0.0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def _matthews(tp, fp, fn, tn):
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (float(tp) * tn - float(fp) * fn) / denominator if denominator else float("nan")


def _mean(values):
    return sum(values) / len(values) if values else float("nan")


class Evaluation(Dl4jNames):
    """Accumulates a confusion matrix from (labels, predictions) batches and reports metrics.

    ``Evaluation(3)``, ``Evaluation(labels=["cat", "dog"])`` or ``Evaluation(["cat", "dog"])``;
    with neither, the number of classes is taken from the first batch. ``eval(labels,
    predictions)`` takes [batch, classes] arrays (one-hot labels; probabilities or one-hot
    predictions, argmax is the predicted class) or [batch, 1] binary columns (threshold 0.5).
    ``score_for_metric(Evaluation.Metric.F1)`` reports one figure chosen by name.
    """

    class Metric(Dl4jEnum):
        """The figures ``score_for_metric`` reports (DL4J's ``Evaluation.Metric``)."""

        ACCURACY = "accuracy"
        F1 = "f1"
        PRECISION = "precision"
        RECALL = "recall"
        GMEASURE = "gmeasure"
        MCC = "mcc"

    def __init__(self, num_classes=None, labels=None, top_n=1, binary_positive_class=1):
        if isinstance(num_classes, dict):  # DL4J's Evaluation(Map<Integer, String>)
            num_classes = [num_classes[i] for i in range(len(num_classes))]
        if isinstance(num_classes, (list, tuple)):  # DL4J's Evaluation(List<String> labels)
            num_classes, labels = None, num_classes
        self.labels_list = None if labels is None else [str(n) for n in labels]
        if num_classes is None and self.labels_list is not None:
            num_classes = len(self.labels_list)
        if num_classes is not None and self.labels_list is not None and \
                num_classes != len(self.labels_list):
            raise ValueError(f"Evaluation: {num_classes} classes but {len(self.labels_list)} "
                             f"label names")
        if binary_positive_class not in (None, 0, 1):
            raise ValueError(f"Evaluation: binary_positive_class must be 0, 1 or None, got "
                             f"{binary_positive_class!r}")
        self.binary_positive_class = binary_positive_class
        self.top_n = int(top_n)
        self.confusion = None
        if num_classes is not None:
            self._create_confusion(1 if num_classes == 1 else int(num_classes))
        self.top_n_correct = 0
        self.top_n_total = 0

    def _create_confusion(self, n_classes):
        n_classes = max(n_classes, 2)  # one output column is a binary problem: 2 classes
        self.confusion = np.zeros((n_classes, n_classes), dtype=np.int64)

    def reset(self):
        """Forget every example counted so far."""
        n = None if self.confusion is None else self.num_classes()
        self.confusion = None if n is None else np.zeros((n, n), dtype=np.int64)
        self.top_n_correct = self.top_n_total = 0

    # -- accumulating ----------------------------------------------------------------------
    def eval(self, labels, predictions, mask=None):
        """Add a batch. DL4J's ``eval(int predictedIdx, int actualIdx)`` works too."""
        if isinstance(labels, (int, np.integer)) and isinstance(predictions, (int, np.integer)):
            return self._eval_one(int(labels), int(predictions))
        labels, predictions = to_cpu(labels), to_cpu(predictions)
        if labels.ndim != 2 or labels.shape != predictions.shape:
            raise ValueError(f"Evaluation.eval: labels and predictions must both be [batch, "
                             f"classes] arrays of the same shape, got labels "
                             f"{tuple(labels.shape)} and predictions {tuple(predictions.shape)}")
        if np.isnan(predictions).any():
            raise ValueError(f"Evaluation.eval: {int(np.isnan(predictions).sum())} NaN values in "
                             f"the predictions")
        if mask is not None:
            keep = to_cpu(mask).reshape(len(labels), -1)[:, 0] != 0
            labels, predictions = labels[keep], predictions[keep]
        n_cols = labels.shape[1]
        if self.confusion is None:
            self._create_confusion(n_cols)
            if self.labels_list is None:
                self.labels_list = [str(i) for i in range(self.num_classes())]
        expected = 1 if self.num_classes() == 2 and n_cols == 1 else self.num_classes()
        if n_cols != expected:
            raise ValueError(f"Evaluation.eval: this Evaluation has {self.num_classes()} classes "
                             f"but the labels have {n_cols} columns")
        if n_cols == 1:
            actual = (labels[:, 0] > 0.5).astype(np.int64)
            predicted = (predictions[:, 0] > 0.5).astype(np.int64)
        else:
            actual, predicted = labels.argmax(axis=1), predictions.argmax(axis=1)
            if self.top_n > 1:
                self._count_top_n(actual, predictions)
        np.add.at(self.confusion, (actual, predicted), 1)

    def _eval_one(self, predicted, actual):
        if self.confusion is None:
            raise ValueError("Evaluation.eval(predicted, actual) needs the number of classes: "
                             "create Evaluation(num_classes) first")
        self.confusion[actual, predicted] += 1

    def _count_top_n(self, actual, predictions):
        # Correct when fewer than top_n classes score strictly higher than the true class.
        true_scores = predictions[np.arange(len(actual)), actual][:, None]
        higher = (predictions > true_scores).sum(axis=1)
        self.top_n_correct += int((higher < self.top_n).sum())
        self.top_n_total += len(actual)

    def merge(self, other):
        """Add the counts of another Evaluation (e.g. from another worker or data split)."""
        if other.confusion is None:
            return self
        if self.confusion is None:
            self.confusion = np.zeros_like(other.confusion)
        if self.confusion.shape != other.confusion.shape:
            raise ValueError(f"cannot merge an Evaluation of {other.num_classes()} classes into "
                             f"one of {self.num_classes()}")
        self.confusion += other.confusion
        self.top_n_correct += other.top_n_correct
        self.top_n_total += other.top_n_total
        if self.labels_list is None:
            self.labels_list = other.labels_list
        return self

    # -- counts ----------------------------------------------------------------------------
    def num_classes(self):
        """How many classes the confusion matrix has (0 before any example)."""
        return 0 if self.confusion is None else int(self.confusion.shape[0])

    def get_num_row_counter(self):
        """How many examples were evaluated."""
        return 0 if self.confusion is None else int(self.confusion.sum())

    def _counts(self, k):
        """(TP, FP, FN, TN) of class k."""
        c = self.confusion
        tp = int(c[k, k])
        fp, fn = int(c[:, k].sum()) - tp, int(c[k, :].sum()) - tp
        return tp, fp, fn, int(c.sum()) - tp - fp - fn

    def _totals(self):
        """(TP, FP, FN, TN) summed over the classes (what micro averages use)."""
        per_class = [self._counts(k) for k in range(self.num_classes())]
        return tuple(sum(c[i] for c in per_class) for i in range(4))

    def _per_class(self, index):
        return {k: self._counts(k)[index] for k in range(self.num_classes())}

    def true_positives(self):
        """{class: true positives}."""
        return self._per_class(0)

    def false_positives(self):
        """{class: false positives}."""
        return self._per_class(1)

    def false_negatives(self):
        """{class: false negatives}."""
        return self._per_class(2)

    def true_negatives(self):
        """{class: true negatives}."""
        return self._per_class(3)

    def class_count(self, k):
        """How many examples of class k were seen."""
        return int(self.confusion[k, :].sum())

    # -- metrics ---------------------------------------------------------------------------
    def accuracy(self):
        """Correct predictions over all examples (0 before any)."""
        total = self.get_num_row_counter()
        return float(np.trace(self.confusion)) / total if total else 0.0

    def top_n_accuracy(self):
        """Examples whose class is among the ``top_n`` highest scores, over all."""
        if self.top_n <= 1:
            return self.accuracy()
        return self.top_n_correct / self.top_n_total if self.top_n_total else 0.0

    def get_top_n_correct_count(self):
        """Examples whose class is among the ``top_n`` highest scores (the correct predictions
        when ``top_n`` is 1)."""
        if self.top_n <= 1:
            return 0 if self.confusion is None else int(np.trace(self.confusion))
        return self.top_n_correct

    def get_top_n_total_count(self):
        """Examples counted for the top-N accuracy (``eval(predicted, actual)`` adds none)."""
        return self.get_num_row_counter() if self.top_n <= 1 else self.top_n_total

    def _class_precision(self, k, edge=0.0):
        tp, fp, _, _ = self._counts(k)
        return _ratio(tp, tp + fp, edge)

    def _class_recall(self, k, edge=0.0):
        tp, _, fn, _ = self._counts(k)
        return _ratio(tp, tp + fn, edge)

    def _class_f_beta(self, beta, k, edge=0.0):
        p, r = self._class_precision(k, None), self._class_recall(k, None)
        return edge if p is None or r is None else _f_beta(beta, p, r)

    def _class_false_positive_rate(self, k):
        _, fp, _, tn = self._counts(k)
        return _ratio(fp, fp + tn, 0.0)

    def _class_false_negative_rate(self, k):
        tp, _, fn, _ = self._counts(k)
        return _ratio(fn, fn + tp, 0.0)

    def _class_g_measure(self, k):
        return math.sqrt(self._class_precision(k) * self._class_recall(k))

    def _class_matthews(self, k):
        return _matthews(*self._counts(k))

    def _class_or_average(self, cls, averaging):
        """``(class, None)`` when one class's figure is asked for, else ``(None, averaging)``.

        DL4J's ``precision(EvaluationAveraging.Micro)`` puts the averaging where the class goes;
        with neither, a 2-class problem reports its positive class, others the macro average.
        """
        if isinstance(cls, (EvaluationAveraging, str)):
            cls, averaging = None, cls
        if cls is None and averaging is None and self.binary_positive_class is not None and \
                self.num_classes() == 2:
            cls = self.binary_positive_class
        if cls is None:
            return None, EvaluationAveraging.parse("macro" if averaging is None else averaging)
        if not 0 <= int(cls) < self.num_classes():
            raise IndexError(f"Evaluation: class {cls} is out of range for "
                             f"{self.num_classes()} classes")
        return int(cls), None

    def _macro(self, per_class):
        """The mean of ``per_class(k)`` over the classes where it is defined (not None)."""
        return _mean([v for v in map(per_class, range(self.num_classes())) if v is not None])

    def _micro_precision(self):
        tp, fp, _, _ = self._totals()
        return _ratio(tp, tp + fp, 0.0)

    def _micro_recall(self):
        tp, _, fn, _ = self._totals()
        return _ratio(tp, tp + fn, 0.0)

    def precision(self, cls=None, averaging=None):
        """Precision of class ``cls``; without it, the positive class (2 classes) or the
        macro average; ``averaging="micro"`` for the micro average."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_precision(cls)
        if not self.get_num_row_counter():
            return 0.0
        if averaging is EvaluationAveraging.Micro:
            return self._micro_precision()
        return self._macro(lambda k: self._class_precision(k, None))

    def recall(self, cls=None, averaging=None):
        """Recall of class ``cls``; without it, as ``precision``."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_recall(cls)
        if not self.get_num_row_counter():
            return 0.0
        if averaging is EvaluationAveraging.Micro:
            return self._micro_recall()
        return self._macro(lambda k: self._class_recall(k, None))

    def f_beta(self, beta, cls=None, averaging=None):
        """F-beta of class ``cls``; without it, as ``precision``."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_f_beta(beta, cls)
        if not self.get_num_row_counter():
            return float("nan")
        if averaging is EvaluationAveraging.Micro:
            return _f_beta(beta, self._micro_precision(), self._micro_recall())
        return self._macro(lambda k: self._class_f_beta(beta, k, None))

    def f1(self, cls=None, averaging=None):
        """F1 of class ``cls``; without it, as ``precision``."""
        return self.f_beta(1.0, cls, averaging)

    def false_positive_rate(self, cls=None, averaging=None):
        """FP / (FP + TN) of class ``cls`` (0 when 0/0); without it, the positive class
        (2 classes) or the average over every class."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_false_positive_rate(cls)
        if averaging is EvaluationAveraging.Micro:
            _, fp, _, tn = self._totals()
            return _ratio(fp, fp + tn, 0.0)
        return self._macro(self._class_false_positive_rate)

    def false_negative_rate(self, cls=None, averaging=None):
        """FN / (FN + TP) of class ``cls`` (0 when 0/0); without it, as
        ``false_positive_rate``. (DL4J's micro average divides by FN + TN instead.)"""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_false_negative_rate(cls)
        if averaging is EvaluationAveraging.Micro:
            tp, _, fn, _ = self._totals()
            return _ratio(fn, fn + tp, 0.0)
        return self._macro(self._class_false_negative_rate)

    def g_measure(self, cls=None, averaging=None):
        """sqrt(precision * recall) of class ``cls``; without it, as ``false_positive_rate``
        (DL4J has only ``gMeasure(int)`` and ``gMeasure(EvaluationAveraging)``)."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_g_measure(cls)
        if averaging is EvaluationAveraging.Micro:
            return math.sqrt(self._micro_precision() * self._micro_recall())
        return self._macro(self._class_g_measure)

    def matthews_correlation(self, cls=None, averaging=None):
        """The binary Matthews correlation coefficient of class ``cls`` against the rest (NaN
        when undefined); without it, as ``false_positive_rate``. As in DL4J, the macro average
        is the mean of the per-class coefficients, not the multi-class MCC."""
        cls, averaging = self._class_or_average(cls, averaging)
        if cls is not None:
            return self._class_matthews(cls)
        if averaging is EvaluationAveraging.Micro:
            return _matthews(*self._totals())
        return self._macro(self._class_matthews)

    def score_for_metric(self, metric):
        """One figure by name (DL4J's ``scoreForMetric``): ``Evaluation.Metric.ACCURACY``,
        ``F1``, ``PRECISION``, ``RECALL`` (as the no-argument methods), ``GMEASURE`` or ``MCC``
        (their macro averages); the name as a string works too."""
        macro = EvaluationAveraging.Macro
        score = {Evaluation.Metric.ACCURACY: self.accuracy,
                 Evaluation.Metric.F1: self.f1,
                 Evaluation.Metric.PRECISION: self.precision,
                 Evaluation.Metric.RECALL: self.recall,
                 Evaluation.Metric.GMEASURE: lambda: self.g_measure(averaging=macro),
                 Evaluation.Metric.MCC: lambda: self.matthews_correlation(averaging=macro)}
        return score[Evaluation.Metric.parse(metric)]()

    def _num_excluded(self, per_class):
        return sum(per_class(k) is None for k in range(self.num_classes()))

    # -- reports ---------------------------------------------------------------------------
    def get_confusion_matrix(self):
        """The confusion matrix as an int NumPy array [actual, predicted] (a copy), or None
        before any data: DL4J's ``getCount(actual, predicted)`` is ``matrix[actual, predicted]``."""
        if self.confusion is None:
            return None
        return self.confusion.copy()

    def get_class_label(self, k):
        """The name of class ``k``: its label name when known, else ``str(k)``."""
        if self.labels_list is not None and k < len(self.labels_list):
            return self.labels_list[k]
        return str(k)

    def confusion_matrix(self):
        """The confusion matrix as DL4J prints it (a string; rows actual, columns predicted)."""
        return report.confusion_text(self)

    def stats(self, suppress_warnings=False, include_confusion=None):
        """DL4J's report: metrics, averaging note, warnings and the confusion matrix."""
        return report.stats_text(self, suppress_warnings, include_confusion)

    def __str__(self):
        return self.stats()
