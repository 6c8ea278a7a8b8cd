"""Evaluation of classifiers: accuracy, precision, recall, F1, confusion matrix, stats()."""

from minidl.eval.evaluation import Evaluation
