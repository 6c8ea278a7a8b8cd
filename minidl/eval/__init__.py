"""Evaluation of classifiers: accuracy, precision, recall, F1, false positive/negative rates,
G-measure, Matthews correlation, confusion matrix, stats()."""

from minidl.eval.evaluation import Evaluation, EvaluationAveraging
