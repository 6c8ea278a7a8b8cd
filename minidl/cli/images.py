"""The images under ``--data``: record readers and iterators sized for the model, the
``--preprocess`` normalizer, and the balanced train/test split."""

import sys

from minidl.cli.checks import check_data
from minidl.cli.reporting import UsageError


def image_size(net):
    """(height, width, channels) of the images ``net`` takes, from its input type."""
    types = getattr(net.conf, "input_types", None) or [getattr(net.conf, "input_type", None)]
    if not types or types[0] is None or not types[0].height:
        raise UsageError("the model does not declare an image input type (height, width)")
    return types[0].height, types[0].width, types[0].channels or 3


def pre_processor_for(net, name):
    """The normalizer ``--preprocess name`` means for ``net``'s images."""
    from minidl.data import ImagePreProcessingScaler, VGG16ImagePreProcessor
    if name == "auto":
        own = getattr(net, "pre_processor", None)  # zoo weights' own, or saved with the model
        if own is not None:
            return own
        name = "vgg16" if image_size(net)[2] == 3 else "scale"  # VGG's means need BGR
    return {"vgg16": VGG16ImagePreProcessor(), "scale": ImagePreProcessingScaler(),
            "none": None}[name]


def _describe(pre_processor):
    return type(pre_processor).__name__ if pre_processor is not None else "none"


def image_iterators(net, args, split=True):
    """(train, test) iterators over ``args.data`` sized for ``net``; one iterator if not split."""
    from minidl.data import (FileSplit, ImageRecordReader, ParentPathLabelGenerator,
                             RecordReaderDataSetIterator)
    check_data(args)
    height, width, channels = image_size(net)
    files = FileSplit(args.data, seed=args.seed if split else None)  # unsplit: sorted
    if files.length() == 0:
        raise UsageError(f"no images under {args.data!r} (expected one sub-folder per class)")
    pre_processor = pre_processor_for(net, args.preprocess)
    # stderr when stdout carries JSON (evaluate --json)
    print(f"preprocessing: {_describe(pre_processor)}",
          file=sys.stderr if getattr(args, "json", False) else sys.stdout)
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
