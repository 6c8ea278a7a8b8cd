"""The ``minidl`` command line."""

import argparse
import sys

import minidl


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minidl",
        description="minidl: a small deep-learning engine with Deeplearning4j's transfer-learning API")
    parser.add_argument("--version", action="version", version=f"minidl {minidl.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
