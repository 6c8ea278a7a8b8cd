"""``minidl featurize`` and ``minidl fit-featurized``: a frozen part's activations written to
disk once, then the unfrozen part trained on them."""

import os

from minidl.cli.checks import (check_data, check_layer_name, check_out_folder, check_output_file,
                               check_precision, check_writable)
from minidl.cli.images import image_iterators
from minidl.cli.models import model_from_args, save_model
from minidl.cli.reporting import UsageError
from minidl.cli.training import train_head, vertex, with_head


def frozen_part(net, layer, n_classes, seed=12345):
    """A TransferLearningHelper for ``net`` frozen up to ``layer`` (as typed: a vertex name, or a
    layer index of a MultiLayerNetwork), or up to its frozen layers when ``layer`` is None.

    At the model's last vertex (a whole model without its top frozen), nothing above would
    read the features: a new head of ``n_classes`` goes on top, as fit-featurized will put it
    (its parameters are not part of the features' fingerprint)."""
    from transfer import TransferLearningHelper
    from transfer.heads import transfer_head
    if layer is None:
        if not any(l.frozen for _, l in net.layer_items()):
            raise UsageError("the model has no frozen layers: pass --layer, the last layer to "
                             "freeze (a vertex name, or a layer index for a MultiLayerNetwork)")
        return TransferLearningHelper(net)
    boundary = vertex(net, layer)
    if str(boundary) in net.wiring.outputs and \
            not any(l.frozen for _, l in net.layer_items()):
        return TransferLearningHelper(transfer_head(net, n_classes, seed, boundary=boundary))
    helper = TransferLearningHelper(net, boundary)
    # Layers frozen when the model was saved stay frozen: a --layer below them cannot thaw them.
    if _frozen_until(helper) != [str(layer)]:
        raise UsageError(f"the model is already frozen up to "
                         f"{', '.join(map(str, _frozen_until(helper)))}, above --layer {layer}: "
                         f"omit --layer to featurize there")
    return helper


def _frozen_until(helper):
    """Where a helper's frozen part ends, as the user names it (vertex names, layer indices)."""
    return [name for name in helper.boundary if name in helper.frozen]


def featurize_parts(helper, parts, out, data, args, progress=None):
    """Featurize each (name, iterator) of ``parts`` into ``out``/name; print what was written.

    ``data`` says which images they are (a folder featurized from other images is not reused);
    ``progress`` (a tqdm) replaces featurize_to_disk's own bars. The one place the images go
    through the frozen part: with ``--workers N`` or ``--scheduler ADDRESS`` on a Dask cluster,
    whose workers read the images themselves (the same features)."""
    from minidl.scaleout import cluster_client
    with cluster_client(workers=args.workers, scheduler=args.scheduler) as client:
        for part, iterator in parts:
            _featurize_part(helper, part, iterator, os.path.join(out, part), data, args,
                            progress, client)


def _featurize_part(helper, part, iterator, folder, data, args, progress, client):
    """Featurize one part (train or test) into ``folder``; print what was written."""
    from transfer import featurize_to_disk
    from transfer.featurized import FeaturesMismatchError
    try:
        manifest = featurize_to_disk(helper, iterator, folder, data={**data, "part": part},
                                     progress=not args.quiet if progress is None else progress,
                                     overwrite=args.overwrite, client=client,
                                     precision=args.precision)
    except FeaturesMismatchError as error:
        raise UsageError(f"{folder} holds features made by {error.reason}: pass "
                         f"--overwrite to replace them, or choose another folder") from None
    if manifest["num_examples"] == 0:
        raise UsageError(f"no image of the {part} part of {args.data!r} could be read "
                         f"({len(iterator.reader.skipped)} files skipped)")
    shape = "x".join(map(str, manifest["feature_shapes"][0]))
    say = print if progress is None else progress.write  # a line above the bar
    say(f"{part}: {manifest['num_examples']} examples, {shape} features -> {folder}")


def data_record(args):
    """What the images are, for the features' manifest: their folder and split."""
    return {"folder": os.path.abspath(args.data), "seed": args.seed,
            "train_percent": args.train_percent, "batch_size": args.batch_size}


def cmd_featurize(args):
    check_data(args)
    check_out_folder(args)
    check_layer_name(args)
    check_precision(args)
    net = model_from_args(args)
    train, test = image_iterators(net, args)
    helper = frozen_part(net, args.layer, len(train.get_labels()), args.seed)
    featurize_parts(helper, (("train", train), ("test", test)), args.out, data_record(args), args)
    return 0


def cmd_fit_featurized(args):
    from transfer import FeaturizedDataSetIterator, TransferLearningHelper
    from transfer.featurized import fingerprint

    train_dir, test_dir = (os.path.join(args.features, part) for part in ("train", "test"))
    if not os.path.isfile(os.path.join(train_dir, "manifest.json")):
        raise UsageError(f"no features in {train_dir}: write them with 'minidl featurize MODEL "
                         f"--data DIR --out {args.features}' first")
    train = FeaturizedDataSetIterator(train_dir)
    if train.manifest["num_examples"] == 0:
        raise UsageError(f"the features in {train_dir} hold no examples")
    check_output_file(args.output)
    check_outputs(args)
    net = model_from_args(args)
    layer = args.layer or (train.manifest.get("boundary") or [None])[0]
    net = with_head(net, layer, train.total_outcomes(), args)
    helper = TransferLearningHelper(net)
    if fingerprint(helper) != train.manifest.get("fingerprint"):
        raise UsageError(f"the features in {args.features} were not made by this model's frozen "
                         f"part (boundary {train.manifest.get('boundary')}); featurize again")
    # The model remembers how its training images were prepared, for `evaluate` and `predict`
    # (read now: a record that cannot be turned back into a normalizer fails before training).
    normalizer = train.source_pre_processor()
    test = FeaturizedDataSetIterator(test_dir) if os.path.isdir(test_dir) else None
    from tqdm import tqdm
    with tqdm(total=args.epochs * len(train), desc="fit-featurized", unit="batch",
              disable=args.quiet) as bar:
        evaluation = train_head(helper, train, test, args, bar)
    save_model(net, args.output, normalizer, train.get_labels())
    print(f"model saved to {args.output}")
    if normalizer is None:
        print("note: the features were made from unscaled pixels: evaluate the model with "
              "--preprocess none")
    if evaluation is not None:
        print(f"Evaluation of the test part ({test.manifest['num_examples']} examples):")
        print(evaluation.stats())
    return 0


def check_outputs(args):
    """--tensorboard and --plot: writable, and TensorBoard's package installed, before any
    training."""
    if args.plot:
        check_output_file(args.plot)
    if args.tensorboard:
        if os.path.exists(args.tensorboard) and not os.path.isdir(args.tensorboard):
            raise UsageError(f"--tensorboard {args.tensorboard!r} is a file: expected a folder")
        check_writable(os.path.join(args.tensorboard, "events"))
        from minidl.io.optional import require
        require("tensorboardX", "--tensorboard")  # before any work
