"""What the DL4J transfer-learning examples share: options, the model, the data, the loop.

Every example runs two ways:

* for real (DL4J's defaults): VGG16 with ImageNet weights from the zoo and the flower photos,
  both downloaded on first use and cached under ``$MINIDL_HOME`` (``--weights FILE`` and
  ``--data DIR`` use your own files instead);
* ``--small``: seconds on a laptop, no download. The "pretrained VGG16" is the demo's small
  VGG-shaped network (same vertex names, 32x32 input, trained on generated shapes and cached,
  see ``transfer.demo``) and the "flower photos" are generated pictures of five of those shapes,
  written as PNG folders and read back through the same image pipeline.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

# the CLI's checks of numeric options and its reporting of user errors, and the vertex each
# pretrained zoo model is usually featurized at (fc2 for VGG, the global pooling of ResNet50
# and MobileNetV2)
from minidl.cli import percentage, positive, run_reporting_errors
from minidl.cli.models import FEATURE_VERTEX

# The DL4J examples hard-code numClasses = 5 (the flower photos) and build the new output layer
# before reading any data; the examples keep that, and check a --data folder against it up front
# (see check_class_folders) rather than sizing the output layer from the data.
NUM_CLASSES = 5
SMALL_LEARNING_RATE = 0.01  # DL4J's 5e-5 moves a tiny network too slowly to see in one pass
SMALL_PER_CLASS = 40
SMALL_EPOCHS = 5  # ... and needs a few passes over 160 pictures where DL4J makes one over 2,500


class ExampleParser(argparse.ArgumentParser):
    """argparse for the examples: some defaults depend on ``--small``, and ``--data`` is checked.

    An option added with ``add_dl4j_option`` parses to the value given, else to the DL4J
    example's default, or to the ``--small`` one: the help text and the run use the same pair.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dl4j_defaults = {}  # dest -> (DL4J's default, the --small default)
        self.zoo_models = False  # whether --model names a zoo model (see example_parser)

    def add_dl4j_option(self, flag, dl4j, small, help, **kwargs):
        """Add ``flag`` with DL4J's default ``dl4j`` and ``small`` under --small (None: off)."""
        small_text = "none" if small is None else small
        help = f"{help} (default {dl4j} as DL4J; {small_text} with --small)"
        action = self.add_argument(flag, default=None, help=help, **kwargs)
        self._dl4j_defaults[action.dest] = (dl4j, small)
        return action

    def parse_args(self, args=None, namespace=None):
        """Parse, fill in the defaults that depend on --small, then check --data (cheap) so
        that a wrong folder fails before a model is loaded or downloaded."""
        parsed = super().parse_args(args, namespace)
        for dest, (dl4j, small) in self._dl4j_defaults.items():
            if getattr(parsed, dest) is None:
                setattr(parsed, dest, small if parsed.small else dl4j)
        if parsed.small and getattr(parsed, "weights", None):
            self.error("--weights has no effect with --small (the small network is the demo's)")
        if parsed.small and self.zoo_models and parsed.model != "vgg16":
            self.error("--model has no effect with --small (the small network is VGG-shaped)")
        if parsed.data is not None:
            check_class_folders(parsed.data)
        return parsed


def example_parser(description, *, learning_rate=None, epochs=None, weights=True, batch_size=16,
                   models=False):
    """The options the examples share; a script only gets the ones it uses.

    ``learning_rate`` and ``epochs`` are the DL4J example's own defaults; leave them out (None)
    in a script that trains nothing. ``weights=False`` drops ``--weights`` from a script that
    starts from a saved model instead of the zoo's VGG16. ``models=True`` adds ``--model``, for
    the examples that make sense for every pretrained zoo model (a new head on its features).
    """
    parser = ExampleParser(description=description)
    parser.add_argument("--data", metavar="DIR",
                        help=f"a folder with one sub-folder of images per class, {NUM_CLASSES} "
                             f"classes (default: the flower photos, downloaded on first use)")
    if models:
        parser.zoo_models = True
        parser.add_argument("--model", choices=sorted(FEATURE_VERTEX), default="vgg16",
                            help="the pretrained zoo model, featurized at "
                                 + ", ".join(f"{v} ({m})" for m, v in FEATURE_VERTEX.items())
                                 + " (default %(default)s, as DL4J)")
    if weights:
        parser.add_argument("--weights", metavar="FILE",
                            help="the model's weights (Keras .h5, torchvision .pth or converted "
                                 ".npz) instead of the zoo's ImageNet weights")
    parser.add_argument("--small", action="store_true",
                        help="a tiny VGG-shaped network at 32x32 on generated pictures: no "
                             "download, runs in seconds")
    parser.add_argument("--batch-size", type=positive(int), default=batch_size,
                        help="minibatch size (default %(default)s)")
    parser.add_argument("--train-percent", type=percentage, default=80,
                        help="percentage of images used for training (default %(default)s)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed (default %(default)s)")
    if learning_rate is not None:
        parser.add_dl4j_option("--learning-rate", learning_rate, SMALL_LEARNING_RATE,
                               "learning rate", type=positive(float))
    if epochs is not None:
        parser.add_dl4j_option("--epochs", epochs, SMALL_EPOCHS,
                               "passes over the training data", type=positive(int))
    parser.add_argument("--quiet", action="store_true",
                        help="print only the outcome (final accuracy, files written)")
    return parser


def probability(text):
    """An argparse type: a probability in (0, 1] (DL4J's dropout is the chance to keep a unit)."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1], got {text}")
    return value


def printer(args):
    """``print`` for progress and intermediate results, or a no-op with --quiet."""
    return (lambda *a, **k: None) if args.quiet else print


def class_folders(data_dir):
    """The class names the image pipeline will find under ``data_dir``: the parent folder
    names of its images, as ParentPathLabelGenerator gives them (no image is decoded)."""
    from minidl.data import FileSplit, ParentPathLabelGenerator
    from minidl.data.records import ALLOWED_FORMATS

    labels = ParentPathLabelGenerator()
    return sorted({labels.get_label_for_path(path)
                   for path in FileSplit(data_dir, ALLOWED_FORMATS).locations()})


def check_class_folders(data_dir):
    """Raise ValueError unless ``data_dir`` holds images in exactly NUM_CLASSES class folders
    (FileNotFoundError if it is not a folder)."""
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    found = class_folders(data_dir)
    if len(found) != NUM_CLASSES:
        names = f" ({', '.join(found)})" if found else ""
        raise ValueError(f"{data_dir}: the example needs NUM_CLASSES={NUM_CLASSES} class folders "
                         f"of images, found {len(found)}{names}")


def run(main, argv=None):
    """Run an example's ``main(argv)`` as a program and exit as the ``minidl`` command does: 0 on
    success, 1 with one line on stderr for a user or environment error, 130 on Ctrl-C; a bug
    keeps its traceback."""
    prog = os.path.basename(sys.argv[0])
    sys.exit(run_reporting_errors(prog, lambda: main(argv) and 0))


def load_vgg16(args):
    """The pretrained network: the zoo's ``--model`` (VGG16 by default, as DL4J; or
    ``--weights``), or the small stand-in."""
    if args.small:
        from transfer.demo import FAST, pretrained_source_model
        net, _ = pretrained_source_model(args.seed, FAST, progress=not args.quiet)
        return net
    from zoo import MODELS, PretrainedType
    model = MODELS[getattr(args, "model", "vgg16")]()  # the scripts without --model: VGG16
    return model.init_pretrained(PretrainedType.IMAGENET, weights=args.weights)


def feature_layer(args):
    """The vertex to freeze up to and featurize at: fc2 of VGG16 (and of the small stand-in),
    the global average pooling of ResNet50 and MobileNetV2."""
    return "fc2" if args.small else FEATURE_VERTEX[getattr(args, "model", "vgg16")]


def small_data_dir(seed):
    """Generated pictures of five source shapes as class folders, written once per seed."""
    from transfer.demo import SOURCE_SHAPES, write_image_folder
    from minidl.io import datasets_dir

    target = Path(datasets_dir()) / f"small-shapes-{seed}"
    if not target.is_dir():
        # write beside, then rename: an interrupted run leaves no half-filled folder
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".small-shapes-"))
        try:
            write_image_folder(partial, SOURCE_SHAPES[:NUM_CLASSES], SMALL_PER_CLASS, seed + 7)
            os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def flower_iterators(args, model):
    """(train iterator, test iterator) as DL4J's FlowerDataSetIterator gives them."""
    from minidl.data import FlowerDataSetIterator, ImagePreProcessingScaler

    channel_order = "BGR"
    if args.small:
        size = model.conf.input_types[0].height
        data_dir = args.data or small_data_dir(args.seed)
        pre_processor = ImagePreProcessingScaler()  # the small network learned on 0..1 pixels
    else:
        size, data_dir = 224, args.data
        # the weights say how their images were prepared (BGR mean for Keras, RGB std for torch)
        pre_processor = getattr(model, "pre_processor", None) or "vgg16"
        channel_order = (getattr(model, "preprocessing", None) or {}).get("channel_order") or "BGR"
    FlowerDataSetIterator.setup(args.batch_size, args.train_percent, data_dir=data_dir,
                                seed=args.seed, pre_processor=pre_processor,
                                progress=not args.quiet, image_size=size,
                                channel_order=channel_order)
    return FlowerDataSetIterator.train_iterator(), FlowerDataSetIterator.test_iterator()


def fit_with_evaluations(net, train_iter, test_iter, log=print, every=10, epochs=1, fit=None):
    """DL4J's example loop: evaluate, then pass over the training data ``epochs`` times,
    evaluating the whole test set every ``every`` iterations (through ``log``); the final
    accuracy is always printed. ``fit`` is the training step (default ``net.fit``;
    ``helper.fit_featurized`` when ``net`` is a helper's unfrozen part).
    Returns (evaluation before, evaluation after)."""
    fit = fit or net.fit
    before = net.evaluate(test_iter)
    log("Eval stats BEFORE fit.....")
    log(before.stats())
    iteration = 0
    for epoch in range(epochs):
        train_iter.reset()
        while train_iter.has_next():
            fit(train_iter.next())
            if iteration % every == 0:
                log(f"Evaluate model at iter {iteration} ....")
                log(net.evaluate(test_iter).stats())
            iteration += 1
        log(f"Epoch #{epoch} complete")
    after = net.evaluate(test_iter)
    # the outcome: printed even with --quiet, which only silences the progress above
    print(f"Model build complete: test accuracy {after.accuracy():.4f} after {iteration} "
          f"iterations")
    return before, after
