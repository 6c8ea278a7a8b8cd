"""Evaluation figures against hand computations on known confusion matrices.

Evaluation counts on the host; the tests that feed it arrays take ``device`` and hand it device
arrays (``on``), as a network's outputs on the GPU are.
"""

import math

import numpy as np
import pytest

from minidl.backend import to_device
from minidl.eval import Evaluation, EvaluationAveraging

# A known 3-class problem. Confusion matrix (rows actual, columns predicted):
#   a: [2, 1, 0]      precision (down the columns) a = 2/3, b = 3/5, c = 1/2
#   b: [0, 3, 1]      recall (along the rows)      a = 2/3, b = 3/4, c = 1/3
#   c: [1, 1, 1]
ACTUAL = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
PREDICTED = [0, 0, 1, 1, 1, 1, 2, 0, 1, 2]
CONFUSION = [[2, 1, 0], [0, 3, 1], [1, 1, 1]]


def probabilities(classes, n_classes, rng=np.random.default_rng(0)):
    """Soft predictions whose argmax is ``classes``."""
    p = rng.uniform(0.0, 0.3, size=(len(classes), n_classes))
    p[np.arange(len(classes)), classes] = 0.9
    return p / p.sum(axis=1, keepdims=True)


def on(*arrays):
    """Arrays on the current device."""
    return [to_device(a) for a in arrays]


def three_class():
    e = Evaluation(labels=["a", "b", "c"])
    e.eval(*on(np.eye(3)[ACTUAL], probabilities(PREDICTED, 3)))
    return e


def f1(p, r):
    return 2 * p * r / (p + r)


def test_confusion_and_counts(device):
    e = three_class()
    np.testing.assert_array_equal(e.get_confusion_matrix(), CONFUSION)
    assert e.true_positives() == {0: 2, 1: 3, 2: 1}
    assert e.false_positives() == {0: 1, 1: 2, 2: 1}
    assert e.false_negatives() == {0: 1, 1: 1, 2: 2}
    assert e.true_negatives() == {0: 6, 1: 4, 2: 6}
    assert e.class_count(1) == 4 and e.getNumRowCounter() == 10


def test_metrics_by_hand(device):
    e = three_class()
    precision = [2 / 3, 3 / 5, 1 / 2]
    recall = [2 / 3, 3 / 4, 1 / 3]
    assert e.accuracy() == pytest.approx(6 / 10)
    for k in range(3):
        assert e.precision(k) == pytest.approx(precision[k])
        assert e.recall(k) == pytest.approx(recall[k])
        assert e.f1(k) == pytest.approx(f1(precision[k], recall[k]))
    assert e.precision() == pytest.approx(sum(precision) / 3)
    assert e.recall() == pytest.approx(sum(recall) / 3)
    assert e.f1() == pytest.approx(sum(f1(p, r) for p, r in zip(precision, recall)) / 3)
    # micro averages over all classes equal accuracy for single-label problems
    assert e.precision(averaging="micro") == pytest.approx(0.6)
    assert e.recall(averaging="micro") == pytest.approx(0.6)
    assert e.f1(averaging="micro") == pytest.approx(0.6)


# (TP, FP, FN, TN) per class of CONFUSION, read off the table above
COUNTS = [(2, 1, 1, 6), (3, 2, 1, 4), (1, 1, 2, 6)]


def test_rates_g_measure_and_mcc_by_hand(device):
    e = three_class()
    fpr = [fp / (fp + tn) for tp, fp, fn, tn in COUNTS]                 # 1/7, 1/3, 1/7
    fnr = [fn / (fn + tp) for tp, fp, fn, tn in COUNTS]                 # 1/3, 1/4, 2/3
    g = [math.sqrt(2 / 3 * 2 / 3), math.sqrt(3 / 5 * 3 / 4), math.sqrt(1 / 2 * 1 / 3)]
    mcc = [11 / 21, 10 / math.sqrt(600), 4 / math.sqrt(336)]            # (TP TN - FP FN) / ...
    for k in range(3):
        assert e.false_positive_rate(k) == pytest.approx(fpr[k])
        assert e.false_negative_rate(k) == pytest.approx(fnr[k])
        assert e.g_measure(k) == pytest.approx(g[k])
        assert e.matthews_correlation(k) == pytest.approx(mcc[k])
    # macro: the mean over every class
    assert e.false_positive_rate() == pytest.approx(sum(fpr) / 3)
    assert e.false_negative_rate() == pytest.approx(sum(fnr) / 3)
    assert e.g_measure() == pytest.approx(sum(g) / 3)
    assert e.matthews_correlation() == pytest.approx(sum(mcc) / 3)
    # micro: summed counts TP 6, FP 4, FN 4, TN 16
    micro = EvaluationAveraging.Micro
    assert e.false_positive_rate(averaging=micro) == pytest.approx(4 / 20)
    assert e.false_negative_rate(averaging=micro) == pytest.approx(4 / 10)  # 1 - micro recall
    assert e.g_measure(averaging=micro) == pytest.approx(0.6)
    assert e.matthews_correlation(averaging=micro) == pytest.approx((6 * 16 - 4 * 4) / 200)


def test_averaging_in_dl4j_and_python_spellings():
    e = three_class()
    assert e.precision(EvaluationAveraging.Micro) == pytest.approx(0.6)   # DL4J: positional
    assert e.recall("MICRO") == pytest.approx(0.6)
    assert e.matthewsCorrelation(EvaluationAveraging.Macro) == e.matthews_correlation()
    assert e.falsePositiveRate(EvaluationAveraging.Micro) == pytest.approx(0.2)
    assert e.precision(averaging=EvaluationAveraging.Macro) == e.precision()
    with pytest.raises(ValueError, match="unknown EvaluationAveraging 'median'.*Macro, Micro"):
        e.f1(averaging="median")
    with pytest.raises(IndexError, match="class 3 is out of range for 3 classes"):
        e.gMeasure(3)


def test_score_for_metric(device):
    e = three_class()
    assert e.score_for_metric(Evaluation.Metric.ACCURACY) == e.accuracy()
    assert e.score_for_metric(Evaluation.Metric.PRECISION) == e.precision()
    assert e.score_for_metric(Evaluation.Metric.RECALL) == e.recall()
    assert e.scoreForMetric(Evaluation.Metric.F1) == e.f1()
    assert e.score_for_metric(Evaluation.Metric.GMEASURE) == e.g_measure(EvaluationAveraging.Macro)
    assert e.score_for_metric("mcc") == e.matthews_correlation(EvaluationAveraging.Macro)
    with pytest.raises(ValueError, match="unknown Metric 'AUC'"):
        e.score_for_metric("AUC")


def test_binary_rates_report_the_positive_class_and_scores_average(device):
    # actual 0 0 1 1 1 ; predicted 0 1 1 1 0 -> class 1: TP 2, FP 1, FN 1, TN 1;
    # class 0: TP 1, FP 1, FN 1, TN 2
    e = Evaluation(2)
    e.eval(*on(np.eye(2)[[0, 0, 1, 1, 1]], np.eye(2)[[0, 1, 1, 1, 0]]))
    assert e.false_positive_rate() == pytest.approx(1 / 2)
    assert e.false_negative_rate() == pytest.approx(1 / 3)
    assert e.g_measure() == pytest.approx(2 / 3)
    assert e.matthews_correlation() == pytest.approx((2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2))
    assert e.matthews_correlation(0) == pytest.approx(e.matthews_correlation(1))  # symmetric
    # DL4J's scoreForMetric: F1 of the positive class, but G-measure averaged over both classes
    assert e.score_for_metric("F1") == pytest.approx(2 / 3)
    assert e.score_for_metric("GMEASURE") == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_rates_and_mcc_for_classes_never_predicted_or_never_seen():
    # actual 0 0 1 1 ; predicted 0 1 1 1 ; class 2 neither seen nor predicted
    e = Evaluation(3)
    e.eval(np.eye(3)[[0, 0, 1, 1]], np.eye(3)[[0, 1, 1, 1]])
    assert e.false_positive_rate(2) == 0.0                 # 0 / (0 + 4)
    assert e.false_negative_rate(2) == 0.0                 # 0/0: DL4J's edge value
    assert e.g_measure(2) == 0.0                           # precision and recall are 0/0 -> 0
    assert math.isnan(e.matthews_correlation(2))           # 0/0, as DL4J
    assert math.isnan(e.matthews_correlation())            # and so the macro average
    assert e.matthews_correlation(0) == pytest.approx((1 * 2 - 0 * 1) / math.sqrt(1 * 2 * 2 * 3))
    assert e.false_positive_rate() == pytest.approx((0 + 1 / 2 + 0) / 3)  # every class counts


def test_optional_sklearn_agrees_on_per_class_mcc():
    metrics = pytest.importorskip("sklearn.metrics")
    e = three_class()
    actual, predicted = np.array(ACTUAL), np.array(PREDICTED)
    for k in range(3):
        assert e.matthews_correlation(k) == pytest.approx(
            metrics.matthews_corrcoef(actual == k, predicted == k))


def test_top_n_counts_and_class_labels(device):
    e = three_class()
    assert e.get_top_n_correct_count() == 6 and e.getTopNTotalCount() == 10
    assert e.get_class_label(1) == "b" and Evaluation(3).getClassLabel(2) == "2"
    top2 = Evaluation(3, top_n=2)
    scores = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    top2.eval(*on(np.eye(3)[[0, 1, 2]], scores))
    assert top2.getTopNCorrectCount() == 2 and top2.get_top_n_total_count() == 3
    assert Evaluation().get_top_n_correct_count() == 0


def test_class_never_predicted_is_left_out_of_the_macro_precision(device):
    # actual: 0 0 1 1 2 ; predicted: 0 1 1 1 0 -> class 2 is never predicted
    e = Evaluation(3)
    e.eval(*on(np.eye(3)[[0, 0, 1, 1, 2]], np.eye(3)[[0, 1, 1, 1, 0]]))
    assert e.precision(2) == 0.0                           # DL4J's edge value per class
    assert e.precision() == pytest.approx((1 / 2 + 2 / 3) / 2)   # average over classes 0 and 1
    assert e.recall() == pytest.approx((1 / 2 + 1 + 0) / 3)      # class 2 has examples: counted
    assert e.f1() == pytest.approx((f1(1 / 2, 1 / 2) + f1(2 / 3, 1)) / 2)
    text = e.stats()
    assert " Precision:       0.5833\t(1 class excluded from average)" in text
    assert "Warning: 1 class was never predicted by the model and was excluded from average " \
           "precision\nClasses excluded from average precision: [2]" in text


def test_binary_reports_the_positive_class(device):
    # actual 0 0 1 1 1 ; predicted 0 1 1 1 0 -> class 1: tp 2, fp 1, fn 1
    e = Evaluation(2)
    e.eval(*on(np.eye(2)[[0, 0, 1, 1, 1]], np.eye(2)[[0, 1, 1, 1, 0]]))
    assert e.precision() == pytest.approx(2 / 3) and e.recall() == pytest.approx(2 / 3)
    assert e.f1() == pytest.approx(2 / 3)
    assert "reported for positive class (class 1 - \"1\") only" in e.stats()
    macro = Evaluation(2, binary_positive_class=None)
    macro.eval(*on(np.eye(2)[[0, 0, 1, 1, 1]], np.eye(2)[[0, 1, 1, 1, 0]]))
    assert macro.precision() == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert "macro-averaged" in macro.stats()


def test_single_column_binary_uses_threshold_half(device):
    e = Evaluation()
    e.eval(*on(np.array([[1.0], [0.0], [1.0], [0.0]]), np.array([[0.7], [0.6], [0.2], [0.1]])))
    np.testing.assert_array_equal(e.get_confusion_matrix(), [[1, 1], [1, 1]])
    assert e.accuracy() == 0.5


def test_accumulates_over_calls_and_merges(device):
    whole = three_class()
    parts = Evaluation(labels=["a", "b", "c"])
    parts.eval(*on(np.eye(3)[ACTUAL[:4]], np.eye(3)[PREDICTED[:4]]))
    parts.eval(*on(np.eye(3)[ACTUAL[4:]], np.eye(3)[PREDICTED[4:]]))
    np.testing.assert_array_equal(parts.get_confusion_matrix(), CONFUSION)
    left, right = Evaluation(), Evaluation()
    left.eval(*on(np.eye(3)[ACTUAL[:6]], np.eye(3)[PREDICTED[:6]]))
    right.eval(*on(np.eye(3)[ACTUAL[6:]], np.eye(3)[PREDICTED[6:]]))
    left.merge(right)
    np.testing.assert_array_equal(left.get_confusion_matrix(), whole.get_confusion_matrix())
    assert left.f1() == pytest.approx(whole.f1())
    with pytest.raises(ValueError, match="cannot merge an Evaluation of 2 classes into one of 3"):
        left.merge(_binary_eval())


def _binary_eval():
    e = Evaluation(2)
    e.eval(*on(np.eye(2)[[0]], np.eye(2)[[0]]))
    return e


def test_single_example_eval_and_mask_and_top_n(device):
    e = Evaluation(3)
    e.eval(2, 1)  # DL4J's eval(predictedIdx, actualIdx)
    assert e.get_confusion_matrix()[1, 2] == 1
    m = Evaluation(3)
    labels, predictions, mask = on(np.eye(3)[ACTUAL], np.eye(3)[PREDICTED],
                                   np.array([1] * 5 + [0] * 5))
    m.eval(labels, predictions, mask=mask)
    assert m.getNumRowCounter() == 5 and m.accuracy() == pytest.approx(4 / 5)
    top2 = Evaluation(3, top_n=2)
    scores = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    top2.eval(*on(np.eye(3)[[0, 1, 2]], scores))
    assert top2.accuracy() == pytest.approx(1 / 3) and top2.top_n_accuracy() == pytest.approx(2 / 3)
    assert " Top 2 Accuracy:  0.6667" in top2.stats()


def test_stats_layout():
    text = three_class().stats()
    lines = text.split("\n")
    assert lines[2] == "========================Evaluation Metrics========================"
    # (2/3 + 3/5 + 1/2) / 3, (2/3 + 3/4 + 1/3) / 3, (2/3 + 2/3 + 2/5) / 3
    assert lines[3:8] == [" # of classes:    3", " Accuracy:        0.6000",
                          " Precision:       0.5889", " Recall:          0.5833",
                          " F1 Score:        0.5778"]
    assert "Precision, recall & F1: macro-averaged (equally weighted avg. of 3 classes)" in text
    table = text.split("=========================Confusion Matrix=========================\n")[1]
    assert table.split("\n")[:5] == [" 0 1 2", "-------", " 2 1 0 | 0 = a", " 0 3 1 | 1 = b",
                                     " 1 1 1 | 2 = c"]
    assert text.endswith("\n==================================================================")
    assert str(three_class()) == text


def test_confusion_table_widens_for_large_counts():
    e = Evaluation(2)
    e.eval(np.eye(2)[[0] * 10 + [1]], np.eye(2)[[0] * 10 + [0]])
    assert e.confusion_matrix().split("\n")[:4] == ["  0  1", "-------", " 10  0 | 0 = 0",
                                                     "  1  0 | 1 = 1"]


def test_bad_input_is_a_clear_error(device):
    e = Evaluation(3)
    with pytest.raises(ValueError, match=r"same shape, got labels \(2, 3\) and predictions "
                                         r"\(2, 4\)"):
        e.eval(*on(np.eye(3)[[0, 1]], np.eye(4)[[0, 1]]))
    with pytest.raises(ValueError, match="has 3 classes but the labels have 4 columns"):
        e.eval(*on(np.eye(4)[[0, 1]], np.eye(4)[[0, 1]]))
    with pytest.raises(ValueError, match="1 NaN values in the predictions"):
        e.eval(*on(np.eye(3)[[0]], np.array([[np.nan, 0.0, 1.0]])))
    with pytest.raises(ValueError, match="2 classes but 3 label names"):
        Evaluation(2, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="needs the number of classes"):
        Evaluation().eval(1, 0)


def test_empty_evaluation():
    e = Evaluation()
    assert e.accuracy() == 0.0 and e.get_confusion_matrix() is None
    assert e.confusion_matrix() == "Confusion matrix: <no data>"
