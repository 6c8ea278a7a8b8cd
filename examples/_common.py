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
import tempfile
from pathlib import Path

NUM_CLASSES = 5
SMALL_LEARNING_RATE = 0.01  # DL4J's 5e-5 moves a tiny network too slowly to see in one pass
SMALL_PER_CLASS = 40
SMALL_EPOCHS = 5  # ... and needs a few passes over 160 pictures where DL4J makes one over 2,500


def example_parser(description, learning_rate, batch_size=16):
    """The options every example has; ``learning_rate`` is the DL4J example's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", metavar="DIR",
                        help="a folder with one sub-folder of images per class (default: the "
                             "flower photos, downloaded on first use)")
    parser.add_argument("--weights", metavar="FILE",
                        help="VGG16 weights (Keras .h5, torchvision .pth or converted .npz) "
                             "instead of the zoo's ImageNet weights")
    parser.add_argument("--small", action="store_true",
                        help="a tiny VGG-shaped network at 32x32 on generated pictures: no "
                             "download, runs in seconds")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"minibatch size (default {batch_size}, as DL4J)")
    parser.add_argument("--train-percent", type=int, default=80,
                        help="percentage of images used for training (default 80)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"learning rate (default {learning_rate} as DL4J; "
                             f"{SMALL_LEARNING_RATE} with --small)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"passes over the training data (default 1 as DL4J; "
                             f"{SMALL_EPOCHS} with --small)")
    parser.add_argument("--quiet", action="store_true", help="print less")
    return parser


def learning_rate(args, dl4j_default):
    if args.learning_rate is not None:
        return args.learning_rate
    return SMALL_LEARNING_RATE if args.small else dl4j_default


def epochs(args):
    if args.epochs is not None:
        return args.epochs
    return SMALL_EPOCHS if args.small else 1


def printer(args):
    return (lambda *a, **k: None) if args.quiet else print


def load_vgg16(args):
    """The pretrained network: the zoo's VGG16 (or ``--weights``), or the small stand-in."""
    if args.small:
        from transfer.demo import FAST, pretrained_source_model
        net, _ = pretrained_source_model(args.seed, FAST, progress=not args.quiet)
        return net
    from zoo import VGG16, PretrainedType
    return VGG16().init_pretrained(PretrainedType.IMAGENET, weights=args.weights)


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
    """DL4J's example loop: evaluate, then pass over the training data (once in DL4J),
    evaluating the whole test set every ``every`` iterations. ``fit`` is the training step
    (default ``net.fit``; ``helper.fit_featurized`` when ``net`` is a helper's unfrozen part).
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
    log(f"Model build complete: test accuracy {after.accuracy():.4f} after {iteration} iterations")
    return before, after
