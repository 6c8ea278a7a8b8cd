"""``minidl demo``: the offline transfer-learning demo of ``transfer.demo``."""

from minidl.cli.checks import check_writable


def cmd_demo(args):
    from transfer.demo import run_demo
    if args.plot:
        check_writable(args.plot)
    run_demo(seed=args.seed, fast=args.fast, plot=args.plot, progress=not args.quiet)
    return 0  # the demo reports who won; a seed where transfer loses is a result, not an error
