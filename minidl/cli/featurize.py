"""``minidl featurize`` and ``minidl fit-featurized``: a frozen part's activations written to
disk once, then the unfrozen part trained on them."""

import os

from minidl.cli.checks import check_data, check_layer_name, check_out_folder, check_output_file
from minidl.cli.images import image_iterators
from minidl.cli.models import model_from_args
from minidl.cli.reporting import UsageError


def _frozen_part(net, layer):
    """A TransferLearningHelper for ``net`` frozen up to ``layer`` (as typed: a vertex name, or a
    layer index of a MultiLayerNetwork), or up to its frozen layers when ``layer`` is None."""
    from transfer import TransferLearningHelper
    if layer is None:
        if not any(l.frozen for _, l in net.layer_items()):
            raise UsageError("the model has no frozen layers: pass --layer, the last layer to "
                             "freeze (a vertex name, or a layer index for a MultiLayerNetwork)")
        return TransferLearningHelper(net)
    helper = TransferLearningHelper(net, _vertex(net, layer))
    # Layers frozen when the model was saved stay frozen: a --layer below them cannot thaw them.
    if _frozen_until(helper) != [layer]:
        raise UsageError(f"the model is already frozen up to "
                         f"{', '.join(map(str, _frozen_until(helper)))}, above --layer {layer}: "
                         f"omit --layer to featurize there")
    return helper


def _vertex(net, layer):
    """``--layer`` as the network's methods take it (a MultiLayerNetwork's layers are indices)."""
    try:
        return net.vertex_from_text(layer)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _frozen_until(helper):
    """Where a helper's frozen part ends, as the user names it (vertex names, layer indices)."""
    return [name for name in helper.boundary if name in helper.frozen]


def cmd_featurize(args):
    from transfer import featurize_to_disk
    from transfer.featurized import FeaturesMismatchError
    check_data(args)
    check_out_folder(args)
    check_layer_name(args)
    net = model_from_args(args)
    helper = _frozen_part(net, args.layer)
    train, test = image_iterators(net, args)
    # What the images are: a folder featurized from other images (or split) is not reused.
    data = {"folder": os.path.abspath(args.data), "seed": args.seed,
            "train_percent": args.train_percent, "batch_size": args.batch_size}
    for part, iterator in (("train", train), ("test", test)):
        folder = os.path.join(args.out, part)
        try:
            manifest = featurize_to_disk(helper, iterator, folder, data={**data, "part": part},
                                         progress=not args.quiet, overwrite=args.overwrite)
        except FeaturesMismatchError as error:
            raise UsageError(f"{folder} holds features made by {error.reason}: pass "
                             f"--overwrite to replace them, or choose another --out") from None
        if manifest["num_examples"] == 0:
            raise UsageError(f"no image of the {part} part of {args.data!r} could be read "
                             f"({len(iterator.reader.skipped)} files skipped)")
        shape = "x".join(map(str, manifest["feature_shapes"][0]))
        print(f"{part}: {manifest['num_examples']} examples, {shape} features -> {folder}")
    return 0


def cmd_fit_featurized(args):
    from transfer.heads import transfer_head
    from minidl.nn.serializer import ModelSerializer
    from transfer import FeaturizedDataSetIterator, TransferLearningHelper
    from transfer.featurized import fingerprint
    from tqdm import tqdm

    train_dir, test_dir = (os.path.join(args.features, part) for part in ("train", "test"))
    if not os.path.isfile(os.path.join(train_dir, "manifest.json")):
        raise UsageError(f"no features in {train_dir}: write them with 'minidl featurize MODEL "
                         f"--data DIR --out {args.features}' first")
    train = FeaturizedDataSetIterator(train_dir)
    if train.manifest["num_examples"] == 0:
        raise UsageError(f"the features in {train_dir} hold no examples")
    check_output_file(args.output)
    net = model_from_args(args)
    if not any(layer.frozen for _, layer in net.layer_items()):
        net = transfer_head(net, train.total_outcomes(), args.seed, args.learning_rate,
                            _vertex(net, args.layer), args.output_vertex)
    helper = TransferLearningHelper(net)
    if fingerprint(helper) != train.manifest.get("fingerprint"):
        raise UsageError(f"the features in {args.features} were not made by this model's frozen "
                         f"part (boundary {train.manifest.get('boundary')}); featurize again")
    # The model remembers how its training images were prepared, for `evaluate` (read now: a
    # record that cannot be turned back into a normalizer fails before the training).
    normalizer = train.source_pre_processor()
    for _ in tqdm(range(args.epochs), desc="fit-featurized", unit="epoch", disable=args.quiet):
        helper.fit_featurized(train)
    ModelSerializer.write_model(net, args.output, save_updater=False, normalizer=normalizer)
    print(f"model saved to {args.output}")
    if normalizer is None:
        print("note: the features were made from unscaled pixels: evaluate the model with "
              "--preprocess none")
    if os.path.isdir(test_dir):
        test = FeaturizedDataSetIterator(test_dir)
        print(f"Evaluation of the test part ({test.manifest['num_examples']} examples):")
        print(helper.unfrozen.evaluate(test, train.get_labels()).stats())
    return 0
