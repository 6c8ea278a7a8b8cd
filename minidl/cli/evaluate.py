"""``minidl summary`` and ``minidl evaluate``: what a model holds, and how well it does on a
folder of images."""

import json

from minidl.cli.checks import check_data
from minidl.cli.images import image_iterators
from minidl.cli.models import load_model, model_from_args, output_size
from minidl.cli.reporting import UsageError
from minidl.eval import EvaluationAveraging


def cmd_summary(args):
    print(load_model(args.model, pretrained=args.pretrained, progress=not args.quiet).summary())
    return 0


def cmd_evaluate(args):
    check_data(args)
    net = model_from_args(args)
    (iterator,) = image_iterators(net, args, split=False)
    n_outputs, n_classes = output_size(net), len(iterator.get_labels())
    if n_outputs != n_classes:
        raise UsageError(f"the model has {n_outputs} outputs but {args.data!r} has {n_classes} "
                         f"class folders ({', '.join(iterator.get_labels())})")
    # Any iterable of DataSets will do for evaluate(): this one shows progress (VGG16 reads a
    # few images a second on a CPU).
    from tqdm import tqdm
    bar = tqdm(iterator, total=len(iterator), desc="evaluate", unit="batch", disable=args.quiet)
    batches = (batch for batch in bar)  # a generator: evaluate() has nothing to reset
    evaluation = net.evaluate(batches, iterator.get_labels())
    if evaluation.get_num_row_counter() == 0:
        raise UsageError(f"no image under {args.data!r} could be read "
                         f"({len(iterator.reader.skipped)} files skipped)")
    if args.json:
        print(json.dumps(evaluation_record(evaluation), indent=2))
    else:
        print(f"{args.data}: {evaluation.get_num_row_counter()} images")
        print(evaluation.stats())
    return 0


def evaluation_record(evaluation):
    """An Evaluation as JSON-ready numbers: examples, accuracy, macro precision, recall and F1,
    and the confusion matrix (``confusion[actual][predicted]``) with its labels."""
    def number(value):  # NaN (a class never predicted, say) is null in JSON
        return None if value != value else float(value)
    macro = EvaluationAveraging.Macro
    return {"examples": int(evaluation.get_num_row_counter()),
            "accuracy": number(evaluation.accuracy()),
            "precision": number(evaluation.precision(averaging=macro)),
            "recall": number(evaluation.recall(averaging=macro)),
            "f1": number(evaluation.f1(averaging=macro)),
            "labels": list(evaluation.labels_list),
            "confusion": evaluation.get_confusion_matrix().tolist()}
