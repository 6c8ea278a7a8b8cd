"""``minidl zoo list | download | convert | info``: the zoo models and their weight cache."""

import os

from minidl.cli.models import ZOO_MODELS, zoo_model
from minidl.cli.reporting import UsageError


def cmd_zoo_list(args):
    from zoo.pretrained import cached_path
    from zoo.models import PretrainedType
    width = max(len(name) for name in ZOO_MODELS)
    print(f"{'model':<{width}} {'pretrained':<11} cached weights")
    for name in ZOO_MODELS:
        model = zoo_model(name)
        kinds = [t for t in PretrainedType if model.pretrained_available(t)]
        cached = [str(cached_path(model.model_name(), t, True)) for t in kinds
                  if cached_path(model.model_name(), t, True).exists()]
        print(f"{name:<{width}} {', '.join(t.name for t in kinds) or '-':<11} "
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
