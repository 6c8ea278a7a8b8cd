"""How an ``Evaluation`` prints: DL4J's ``stats()`` report and its confusion table, kept apart
from the metrics (``minidl.eval.evaluation``) they print."""

CONFUSION_PRINT_MAX_CLASSES = 20


def confusion_text(evaluation):
    """``evaluation``'s confusion matrix as DL4J prints it (rows actual, columns predicted)."""
    if evaluation.confusion is None:
        return "Confusion matrix: <no data>"
    n = evaluation.num_classes()
    width = len(str(max(1, int(evaluation.confusion.max()), n))) + 1
    lines = ["".join(f"{k:>{width}d}" for k in range(n)), "-" * (width * n + 1)]
    for actual in range(n):
        counts = "".join(f"{int(c):>{width}d}" for c in evaluation.confusion[actual])
        lines.append(f"{counts} | {actual} = {evaluation.get_class_label(actual)}")
    return "\n".join(lines) + \
        "\n\nConfusion matrix format: Actual (rowClass) predicted as (columnClass) N times"


def stats_text(evaluation, suppress_warnings=False, include_confusion=None):
    """DL4J's ``stats()`` of ``evaluation``: metrics, averaging note, warnings and the confusion
    matrix."""
    n = evaluation.num_classes()
    if include_confusion is None:
        include_confusion = n <= CONFUSION_PRINT_MAX_CLASSES
    out = ["\n", "\n========================Evaluation Metrics========================",
           f"\n # of classes:    {n}",
           f"\n Accuracy:        {_fmt(evaluation.accuracy())}"]
    if evaluation.top_n > 1:
        out.append(f"\n Top {evaluation.top_n} Accuracy:  {_fmt(evaluation.top_n_accuracy())}")
    excluded = {
        "precision": evaluation._num_excluded(lambda k: evaluation._class_precision(k, None)),
        "recall": evaluation._num_excluded(lambda k: evaluation._class_recall(k, None)),
        "f1": evaluation._num_excluded(lambda k: evaluation._class_f_beta(1.0, k, None))}
    for title, value, key in ((" Precision:       ", evaluation.precision(), "precision"),
                              (" Recall:          ", evaluation.recall(), "recall"),
                              (" F1 Score:        ", evaluation.f1(), "f1")):
        out.append(f"\n{title}{_fmt(value)}")
        if n > 2 and excluded[key]:
            plural = "es" if excluded[key] > 1 else ""
            out.append(f"\t({excluded[key]} class{plural} excluded from average)")
    positive = evaluation.binary_positive_class
    if n == 2 and positive is not None:
        out.append(f"\nPrecision, recall & F1: reported for positive class (class "
                   f"{positive} - \"{evaluation.get_class_label(positive)}\") only")
    else:
        out.append(f"\nPrecision, recall & F1: macro-averaged (equally weighted avg. of {n} "
                   f"classes)")
    out.append("\n\n")
    if not suppress_warnings and evaluation.confusion is not None:
        out.append(_warnings(evaluation))
    if include_confusion:
        out.append("\n=========================Confusion Matrix=========================\n")
        out.append(confusion_text(evaluation))
    elif n > CONFUSION_PRINT_MAX_CLASSES:
        out.append(f"\n\nNote: Confusion matrix not generated due to space requirements for "
                   f"{n} classes.\nUse stats(False, True) to generate anyway")
    out.append("\n==================================================================")
    return "".join(out)


def _warnings(evaluation):
    """The lines on classes left out of the macro averages."""
    text = []
    classes = range(evaluation.num_classes())
    never_predicted = [k for k in classes if evaluation._class_precision(k, None) is None]
    never_seen = [k for k in classes if evaluation._class_recall(k, None) is None]
    for excluded, what, metric in ((never_predicted, "never predicted by the model",
                                    "precision"),
                                   (never_seen, "absent from the labels", "recall")):
        if excluded:
            one = len(excluded) == 1
            text.append(f"Warning: {len(excluded)} class{'' if one else 'es'} "
                        f"{'was' if one else 'were'} {what} and {'was' if one else 'were'} "
                        f"excluded from average {metric}\nClasses excluded from average "
                        f"{metric}: {excluded}\n")
    return "".join(text)


def _fmt(value):
    """DL4J's DecimalFormat("0.0000"); NaN and infinity as Java prints them."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.4f}"
