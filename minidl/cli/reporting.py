"""How the commands fail: a user's mistake or a problem of the environment is one line on
stderr and exit status 1; warnings are one line each; Ctrl-C is status 130."""

import contextlib
import sys
import warnings

import minidl.backend
from minidl.io.optional import MissingDependencyError


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 1."""


@contextlib.contextmanager
def _one_line_warnings(command):
    """Warnings (a skipped image, ...) as ``minidl CMD: warning: ...`` lines, without Python's
    file and source line, which mean nothing to a user of the command."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {message}", file=file or sys.stderr)
    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def run_reporting_errors(prog, function, on_interrupt=""):
    """``function()``'s exit status, as a program named ``prog`` reports it: user mistakes and
    environment problems (a missing file, bad data, no network, no GPU) are one line on stderr
    and status 1, Ctrl-C is status 130 (``on_interrupt`` is added to its line). Anything else
    is a bug in the program, so it keeps its traceback. The examples use it too."""
    try:
        with _one_line_warnings(prog):
            return function() or 0
    except (UsageError, FileNotFoundError, ValueError, KeyError, OSError,
            minidl.backend.DeviceError, MissingDependencyError) as error:
        # a KeyError's str() is the repr of its key, quotes and all: show the message itself
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{on_interrupt}", file=sys.stderr)
        return 130
