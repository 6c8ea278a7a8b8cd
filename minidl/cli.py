"""The ``minidl`` command: a thin layer over the library. Each command is a few library calls,
after checks of what the user asked for (paths, numbers, layer names), so that a mistake fails
in one line before any long work (a download, a featurization).

    minidl demo [--fast] [--plot curves.png]      the offline transfer-learning demo
    minidl zoo list | download | convert | info    pretrained weights in the cache
    minidl summary MODEL                           layers, sizes, frozen/trainable parameters
    minidl featurize MODEL --data DIR --out DIR    frozen-part activations to disk, once
    minidl fit-featurized MODEL FEATURES -o OUT    train the head on them, save the model
    minidl evaluate MODEL --data DIR               accuracy, precision, recall, F1, confusion

MODEL is a saved model zip (ModelSerializer) or a zoo name (vgg16, vgg19, lenet, simplecnn).
Exit codes: 0 success, 1 failure (missing file, unknown model, bad data...), 2 bad usage.
User mistakes are reported as one line on stderr, without a traceback.
"""

import argparse
import contextlib
import os
import sys
import tempfile
import warnings

import minidl

ZOO_MODELS = ("vgg16", "vgg19", "lenet", "simplecnn")


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- models by name or file ---------------------------------------------------------------------

def zoo_model(name):
    """The zoo model class instance for ``name`` (case-insensitive)."""
    import zoo
    classes = {"vgg16": zoo.VGG16, "vgg19": zoo.VGG19, "lenet": zoo.LeNet,
               "simplecnn": zoo.SimpleCNN}
    if name.lower() not in classes:
        raise UsageError(f"unknown model {name!r}: not a file, and not a zoo model "
                         f"({', '.join(ZOO_MODELS)})")
    return classes[name.lower()]()


def load_model(name_or_path, pretrained=True, weights=None, progress=True, include_top=True):
    """A saved model zip, or a zoo model (pretrained when it has weights, else random)."""
    from zoo import MissingTopError
    if os.path.exists(name_or_path):
        return restore_model(name_or_path)
    if name_or_path.endswith(".zip") or os.sep in name_or_path:
        raise UsageError(f"model file {name_or_path!r} does not exist")
    model = zoo_model(name_or_path)
    if pretrained and (weights or model.pretrained_available()):
        try:
            return model.init_pretrained(weights=weights, progress=progress,
                                         include_top=include_top)
        except MissingTopError:
            raise UsageError(f"{weights} has no top (fc1, fc2, predictions): pass --no-top "
                             f"for the model up to block5_pool") from None
    return model.init()


def _load(args):
    """The MODEL of a command with the model options (``_add_model_options``)."""
    net = load_model(args.model, weights=args.weights, progress=not args.quiet,
                     include_top=not args.no_top)
    if not os.path.exists(args.model) and not args.weights and \
            not zoo_model(args.model).pretrained_available():
        print(f"note: {args.model} has no pretrained weights: its parameters are random")
    return net


def restore_model(path):
    """Whatever network the zip at ``path`` holds, with the normalizer saved with it (if any)
    as its ``pre_processor``, which ``--preprocess auto`` uses."""
    from minidl.nn.serializer import ModelSerializer
    net = ModelSerializer.restore_model(path)
    net.pre_processor = ModelSerializer.restore_normalizer_from_file(path)
    return net


def _n_outputs(net):
    """The size of the network's (first) output (from the inferred types: a LossLayer has no
    n_out of its own)."""
    types = net.conf.infer_types()
    if hasattr(net.conf, "vertices"):
        return types[net.output_names[0]].size
    return net.conf.layers[-1].output_type(types[-1]).size


# -- checks: what the user asked for, before any long work --------------------------------------

def _check_data(args):
    """Fail on a missing data folder before a model is loaded (which may mean a download)."""
    if not os.path.exists(args.data):
        raise UsageError(f"data folder {args.data!r} does not exist")
    if not os.path.isdir(args.data):
        raise UsageError(f"--data {args.data!r} is a file: expected a folder with one "
                         f"sub-folder of images per class")


def _check_out_folder(args):
    """--out must be a folder (or not exist yet) and must not lie inside --data, whose
    sub-folders are classes."""
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a file: expected a folder")
    data, out = os.path.abspath(args.data), os.path.abspath(args.out)
    if os.path.commonpath([data, out]) == data:
        raise UsageError(f"--out {args.out!r} is inside --data {args.data!r}: its train/ and "
                         f"test/ folders would be taken for classes")


def _check_output_file(path):
    """Fail before any training if the model file ``path`` cannot be written."""
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder: expected a file name for the model (OUT.zip)")
    _check_writable(path)


def _check_writable(path):
    """Fail now, not after minutes of work, if ``path`` cannot be written (a missing folder is
    created, as for every output of the command)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the folder of {path!r}: {error.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"cannot write in the folder of {path!r}: {error.strerror}") from None


def _check_layer_name(args):
    """For a pretrained zoo model, check --layer against its layout before the weights are
    loaded (maybe downloaded: 528 MB for VGG16)."""
    if args.layer is None or os.path.exists(args.model) or args.model.endswith(".zip"):
        return
    model = zoo_model(args.model)
    if not model.pretrained_available() or not hasattr(model, "pretrained_conf"):
        return
    known = model.pretrained_conf(1000, include_top=not args.no_top).known_names()
    if args.layer not in known:
        raise UsageError(f"{args.model}{' --no-top' if args.no_top else ''} has no vertex "
                         f"{args.layer!r}; vertices: {', '.join(known)}")


# -- images -------------------------------------------------------------------------------------

def _image_size(net):
    types = getattr(net.conf, "input_types", None) or [getattr(net.conf, "input_type", None)]
    if not types or types[0] is None or not types[0].height:
        raise UsageError("the model does not declare an image input type (height, width)")
    return types[0].height, types[0].width, types[0].channels or 3


def _pre_processor(net, name):
    """The normalizer ``--preprocess name`` means for ``net``'s images."""
    from minidl.data import ImagePreProcessingScaler, VGG16ImagePreProcessor
    if name == "auto":
        own = getattr(net, "pre_processor", None)  # zoo weights' own, or saved with the model
        if own is not None:
            return own
        name = "vgg16" if _image_size(net)[2] == 3 else "scale"  # VGG's means need BGR
    return {"vgg16": VGG16ImagePreProcessor(), "scale": ImagePreProcessingScaler(),
            "none": None}[name]


def _describe(pre_processor):
    return type(pre_processor).__name__ if pre_processor is not None else "none"


def _image_iterators(net, args, split=True):
    """(train, test) iterators over ``args.data`` sized for ``net``; one iterator if not split."""
    from minidl.data import (FileSplit, ImageRecordReader, ParentPathLabelGenerator,
                             RecordReaderDataSetIterator)
    _check_data(args)
    height, width, channels = _image_size(net)
    files = FileSplit(args.data, seed=args.seed if split else None)  # unsplit: sorted
    if files.length() == 0:
        raise UsageError(f"no images under {args.data!r} (expected one sub-folder per class)")
    pre_processor = _pre_processor(net, args.preprocess)
    print(f"preprocessing: {_describe(pre_processor)}")
    parts = {"data": files}
    if split:
        parts = dict(zip(("train", "test"), _balanced_split(files, args)))
    iterators, labels = [], None
    for name, part in parts.items():
        reader = ImageRecordReader(height, width, channels, ParentPathLabelGenerator())
        reader.initialize(part)
        if labels is None:
            labels = reader.get_labels()
        else:  # the test part uses the train part's one-hot columns, even if it lacks a class
            reader.set_labels(labels)
        if not len(reader):  # only a split can be empty here
            used = sum(p.length() for p in parts.values())
            raise UsageError(f"the {name} part of {args.data!r} is empty: --train-percent "
                             f"{args.train_percent} of {used} images leaves no {name} image")
        iterator = RecordReaderDataSetIterator(reader, args.batch_size, 1, reader.num_labels())
        if pre_processor is not None:
            iterator.set_pre_processor(pre_processor)
        iterators.append(iterator)
    return iterators


def _balanced_split(files, args):
    """(train, test) splits with as many images of every class (DL4J's BalancedPathFilter),
    saying how many images that leaves out."""
    from minidl.data import BalancedPathFilter, ParentPathLabelGenerator
    labels = ParentPathLabelGenerator()
    classes = {labels.get_label_for_path(p) for p in files.locations()}
    if len(classes) < 2:
        raise UsageError(f"{args.data!r} has {len(classes)} class folder(s): training needs at "
                         f"least 2 (one sub-folder of images per class)")
    train, test = files.sample(BalancedPathFilter(args.seed, None, labels), args.train_percent,
                               100 - args.train_percent)
    used = train.length() + test.length()
    if used < files.length():
        print(f"note: {used} of {files.length()} images used: every class gets as many as the "
              f"smallest one has ({used // len(classes)})")
    return train, test


# -- frozen parts -------------------------------------------------------------------------------

def _frozen_part(net, layer):
    """A TransferLearningHelper for ``net`` frozen up to ``layer`` (a vertex name, or a layer
    index of a MultiLayerNetwork), or up to its frozen layers when ``layer`` is None."""
    from transfer import TransferLearningHelper
    if layer is None:
        if not any(l.frozen for _, l in net.layer_items()):
            raise UsageError("the model has no frozen layers: pass --layer, the last layer to "
                             "freeze (a vertex name, or a layer index for a MultiLayerNetwork)")
        return TransferLearningHelper(net)
    if not hasattr(net.conf, "vertices"):
        layer = _layer_index(net, layer)
    helper = TransferLearningHelper(net, layer)
    # Layers frozen when the model was saved stay frozen: a --layer below them cannot thaw them.
    if _frozen_until(helper) != [layer]:
        raise UsageError(f"the model is already frozen up to "
                         f"{', '.join(map(str, _frozen_until(helper)))}, above --layer {layer}: "
                         f"omit --layer to featurize there")
    return helper


def _layer_index(net, layer):
    """``--layer`` of a MultiLayerNetwork: an index below the output layer."""
    last = len(net.conf.layers) - 2  # the output layer itself always trains
    if not layer.isdigit() or int(layer) > last:
        raise UsageError(f"the model is a MultiLayerNetwork: --layer takes a layer index "
                         f"0..{last} (below the output layer), got {layer!r}")
    return int(layer)


def _frozen_until(helper):
    """Where a helper's frozen part ends: vertex names, or a MultiLayerNetwork's layer index."""
    if hasattr(helper, "frozen_till"):
        return [helper.frozen_till]
    return [name for name in helper.graph_inputs if name in helper.frozen]


# -- commands -----------------------------------------------------------------------------------

def cmd_demo(args):
    from transfer.demo import run_demo
    if args.plot:
        _check_writable(args.plot)
    run_demo(seed=args.seed, fast=args.fast, plot=args.plot, progress=not args.quiet)
    return 0  # the demo reports who won; a seed where transfer loses is a result, not an error


def cmd_zoo_list(args):
    from zoo.pretrained import cached_path
    from zoo.models import PretrainedType
    print(f"{'model':<10} {'pretrained':<11} cached weights")
    for name in ZOO_MODELS:
        model = zoo_model(name)
        kinds = [t for t in PretrainedType if model.pretrained_available(t)]
        cached = [str(cached_path(model.model_name(), t, True)) for t in kinds
                  if cached_path(model.model_name(), t, True).exists()]
        print(f"{name:<10} {', '.join(t.name for t in kinds) or '-':<11} "
              f"{', '.join(cached) or '-'}")
    return 0


def cmd_zoo_download(args):
    from zoo.pretrained import cached_path
    model = zoo_model(args.model)
    if not model.pretrained_available():
        raise UsageError(f"{args.model} has no pretrained weights to download")
    model.init_pretrained(include_top=not args.no_top, progress=not args.quiet)
    from zoo.models import PretrainedType
    print(cached_path(model.model_name(), PretrainedType.IMAGENET, not args.no_top))
    return 0


def cmd_zoo_convert(args):
    from zoo import convert
    if not os.path.exists(args.source):
        raise UsageError(f"weight file {args.source!r} does not exist")
    print(convert(args.source, args.output))
    return 0


def cmd_zoo_info(args):
    if not os.path.exists(args.target) and ("." in args.target or os.sep in args.target):
        raise UsageError(f"weight file {args.target!r} does not exist")
    if not os.path.exists(args.target):
        from zoo.pretrained import cached_path
        model = zoo_model(args.target)
        print(f"{type(model).__name__}: input {model.input_shape}, "
              f"pretrained: {', '.join(t.name for t in model.pretrained) or 'none'}")
        for kind in model.pretrained:
            path = cached_path(model.model_name(), kind, True)
            print(f"  {kind.name}: {path} ({'cached' if path.exists() else 'not downloaded'})")
        return 0
    from zoo import load_weights
    weights, metadata = load_weights(args.target)
    n_params = sum(int(a.size) for a in weights.values())
    print(f"{args.target}: {metadata.get('architecture')} "
          f"({'with' if metadata.get('include_top') else 'without'} top), "
          f"{len(weights)} arrays, {n_params:,} parameters")
    source = metadata.get("source", {})
    print(f"  source: {source.get('file')} ({source.get('format')}), sha256 {source.get('sha256')}")
    print(f"  preprocessing: {metadata.get('channel_order')} pixels 0..255, minus mean "
          f"{metadata.get('mean')}, divided by std {metadata.get('std')}")
    return 0


def cmd_summary(args):
    print(load_model(args.model, pretrained=args.pretrained, progress=not args.quiet).summary())
    return 0


def cmd_featurize(args):
    from transfer import featurize_to_disk
    from transfer.featurized import FeaturesMismatchError
    _check_data(args)
    _check_out_folder(args)
    _check_layer_name(args)
    net = _load(args)
    helper = _frozen_part(net, args.layer)
    train, test = _image_iterators(net, args)
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
    _check_output_file(args.output)
    net = _load(args)
    if not any(layer.frozen for _, layer in net.layer_items()):
        is_graph = hasattr(net.conf, "vertices")
        boundary = args.layer if is_graph else _layer_index(net, args.layer)
        net = transfer_head(net, train.total_outcomes(), args.seed, args.learning_rate,
                            boundary, args.output_vertex)
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
        head = helper.unfrozen_graph() if hasattr(net.conf, "vertices") else helper.unfrozen_mln()
        print(head.evaluate(test, train.get_labels()).stats())
    return 0


def cmd_evaluate(args):
    _check_data(args)
    net = _load(args)
    (iterator,) = _image_iterators(net, args, split=False)
    n_outputs, n_classes = _n_outputs(net), len(iterator.get_labels())
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
    print(f"{args.data}: {evaluation.get_num_row_counter()} images")
    print(evaluation.stats())
    return 0


# -- the parser ---------------------------------------------------------------------------------

def percentage(text):
    """An argparse type: an int from 1 to 99 (a train/test split's train part)."""
    value = int(text)
    if not 1 <= value <= 99:
        raise argparse.ArgumentTypeError(f"expected a percentage from 1 to 99, got {value}")
    return value


def positive(kind):
    """An argparse type: a number of ``kind`` (int or float) above 0 (and finite)."""
    def parse(text):
        value = kind(text)
        if not 0 < value < float("inf"):  # also refuses nan
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value" errors
    return parse


def _add_data_options(parser, split=True):
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a folder with one sub-folder of images per class")
    parser.add_argument("--batch-size", type=positive(int), default=16,
                        help="minibatch size (default 16)")
    parser.add_argument("--preprocess", choices=("auto", "vgg16", "scale", "none"), default="auto",
                        help="pixel preprocessing. auto (default): what the model was trained "
                             "with, when its weights or zip say; else vgg16 for colour inputs "
                             "and scale for grey ones. vgg16: subtract VGG16's BGR means; "
                             "scale: 0..255 to 0..1; none")
    if split:
        parser.add_argument("--train-percent", type=percentage, default=80,
                            help="percentage for training; the rest is the test part (default 80)")
        parser.add_argument("--seed", type=int, default=12345,
                            help="seed of the train/test split (default 12345)")


def _add_model_options(parser):
    parser.add_argument("model", metavar="MODEL", help="a saved model zip or a zoo name "
                                                       f"({', '.join(ZOO_MODELS)})")
    parser.add_argument("--weights", metavar="FILE",
                        help="pretrained weights for a zoo model (.h5, .pth or .npz)")
    parser.add_argument("--no-top", action="store_true",
                        help="a pretrained zoo model without fc1, fc2 and predictions (ends at "
                             "block5_pool; for weights without them)")


def _add_common_options(parser, default=None):
    """--quiet and --device; ``default`` argparse.SUPPRESS leaves them unset when not given."""
    parser.add_argument("--quiet", action="store_true",
                        default=False if default is None else default, help="no progress bars")
    parser.add_argument("--device", choices=["cpu", "gpu"], default=default,
                        help="where networks compute: cpu (NumPy) or gpu (CuPy); default "
                             "$MINIDL_DEVICE, else cpu")


def build_parser():
    """The ``minidl`` argument parser: one subcommand per ``cmd_*`` function above."""
    parser = _Parser(
        prog="minidl",
        description="minidl: a small deep-learning engine with Deeplearning4j's transfer-learning "
                    "API. Models and data are cached under $MINIDL_HOME (default ~/.minidl).")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    _add_common_options(parser)
    # Every command takes them too (after its name); unset there, the value before it stands.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)

    def add(subparsers, name, **kwargs):
        return subparsers.add_parser(name, parents=[common], **kwargs)

    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = add(commands, "demo", help="the offline transfer-learning demo (no download)",
               description="Pretrain a small VGG on generated shapes (cached), transfer it to "
                           "new shapes, compare with training from scratch. Seconds to a minute "
                           "on 2 CPU cores.")
    demo.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    demo.add_argument("--fast", action="store_true", help="smaller settings (used by the tests)")
    demo.add_argument("--plot", metavar="FILE.png", help="save the training curves as a PNG")
    demo.set_defaults(run=cmd_demo)

    zoo_parser = add(commands, "zoo", help="pretrained models: list, download, convert, info",
                     description="The model zoo and its weight cache.")
    zoo_commands = zoo_parser.add_subparsers(dest="zoo_command", metavar="ACTION",
                                             parser_class=_Parser, required=True)
    add(zoo_commands, "list", help="zoo models and their cached weights",
        description="List the zoo models and their cached weights.").set_defaults(run=cmd_zoo_list)
    download = add(zoo_commands, "download", help="download and convert pretrained weights",
                   description="Download (md5-checked), convert and cache a model's ImageNet "
                               "weights.")
    download.add_argument("model", metavar="MODEL", help="vgg16 or vgg19")
    download.add_argument("--no-top", action="store_true",
                          help="the weights without fc1, fc2, predictions")
    download.set_defaults(run=cmd_zoo_download)
    convert = add(zoo_commands, "convert", help="convert a Keras .h5 or torchvision .pth",
                  description="Convert Keras .h5 or torchvision .pth VGG weights to minidl's "
                              ".npz (DL4J names).")
    convert.add_argument("source", metavar="FILE", help="the .h5 or .pth file")
    convert.add_argument("-o", "--output", metavar="OUT.npz", help="default: beside FILE")
    convert.set_defaults(run=cmd_zoo_convert)
    info = add(zoo_commands, "info", help="what a weight file or zoo model holds",
               description="Describe a weight file (.h5, .pth, .npz) or a zoo model and its "
                           "cache.")
    info.add_argument("target", metavar="FILE|MODEL",
                      help=f"a weight file, or a zoo name ({', '.join(ZOO_MODELS)})")
    info.set_defaults(run=cmd_zoo_info)

    summary = add(commands, "summary", help="layers, sizes and frozen parameters of a model",
                  description="Print a model's summary() table.")
    summary.add_argument("model", metavar="MODEL", help="a saved model zip or a zoo name")
    summary.add_argument("--pretrained", action="store_true",
                         help="for a zoo name: the pretrained layout (loads or downloads weights)")
    summary.set_defaults(run=cmd_summary)

    featurize = add(commands, "featurize", help="save a frozen part's activations to disk",
                    description="Run the frozen part of MODEL (up to --layer) once over the "
                                "images; write train/ and test/ shards under --out. Resumes if "
                                "interrupted.")
    _add_model_options(featurize)
    _add_data_options(featurize)
    featurize.add_argument("--layer", help="the last layer to freeze: a vertex name, or a layer "
                                           "index of a MultiLayerNetwork (default: the model's "
                                           "frozen layers)")
    featurize.add_argument("--out", required=True, metavar="DIR", help="output folder")
    featurize.add_argument("--overwrite", action="store_true",
                           help="replace features made by another model")
    featurize.set_defaults(run=cmd_featurize,
                           on_interrupt=": run the same command again to resume")

    fit = add(commands, "fit-featurized", help="train the unfrozen part on saved features",
              description="Train MODEL's unfrozen part on features written by 'minidl "
                          "featurize' and save the whole model. A model without frozen layers "
                          "gets --layer frozen and a new output layer sized for the features' "
                          "labels.")
    _add_model_options(fit)
    fit.add_argument("features", metavar="FEATURES", help="the --out folder of 'minidl featurize'")
    fit.add_argument("-o", "--output", required=True, metavar="OUT.zip", help="where to save")
    fit.add_argument("--epochs", type=positive(int), default=3, help="epochs (default 3)")
    fit.add_argument("--learning-rate", type=positive(float), default=3e-5,
                     help="Nesterovs learning rate of the new head (default 3e-5, as DL4J)")
    fit.add_argument("--layer", default="fc2",
                     help="for a model without frozen layers: the last layer to freeze, a vertex "
                          "name or a MultiLayerNetwork's layer index (default fc2)")
    fit.add_argument("--output-vertex", default="predictions",
                     help="the output vertex to replace (default predictions)")
    fit.add_argument("--seed", type=int, default=12345,
                     help="seed of the new output layer's weights (default 12345)")
    fit.set_defaults(run=cmd_fit_featurized)

    evaluate = add(commands, "evaluate", help="accuracy, precision, recall, F1 on images",
                   description="Evaluate MODEL on every image under --data (label = sub-folder "
                               "name, sorted).")
    _add_model_options(evaluate)
    _add_data_options(evaluate, split=False)
    evaluate.set_defaults(run=cmd_evaluate)
    return parser


# -- running a command --------------------------------------------------------------------------

@contextlib.contextmanager
def _one_line_warnings(command):
    """Warnings (a skipped image, ...) as ``minidl CMD: warning: ...`` lines, without Python's
    file and source line, which mean nothing to a user of the command."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {message}", file=file or sys.stderr)
    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv=None):
    """Run the command line ``argv`` (default: sys.argv); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    args.quiet = getattr(args, "quiet", False)
    command = " ".join(filter(None, ("minidl", args.command, getattr(args, "zoo_command", None))))

    def run():
        if args.device:
            minidl.set_device(args.device)
        minidl.backend.get_device()  # a bad MINIDL_DEVICE fails here, before any work
        return args.run(args)
    return run_reporting_errors(command, run, on_interrupt=getattr(args, "on_interrupt", ""))


def run_reporting_errors(prog, function, on_interrupt=""):
    """``function()``'s exit status, as a program named ``prog`` reports it: user mistakes and
    environment problems (a missing file, bad data, no network, no GPU) are one line on stderr
    and status 1, Ctrl-C is status 130 (``on_interrupt`` is added to its line). Anything else
    is a bug in the program, so it keeps its traceback. The examples use it too."""
    try:
        with _one_line_warnings(prog):
            return function() or 0
    except (UsageError, FileNotFoundError, ValueError, KeyError, OSError,
            minidl.backend.DeviceError) as error:
        # a KeyError's str() is the repr of its key, quotes and all: show the message itself
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{on_interrupt}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
