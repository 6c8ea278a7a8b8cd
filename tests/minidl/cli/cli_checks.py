"""Checks the CLI tests share: a failed command's one error line, a bad option's exit 2."""

import pytest

from minidl import cli


def one_error_line(capsys):
    """The one line a failed command wrote on stderr (no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def usage_error(argv, capsys):
    """A bad option: exit code 2 and one line naming the command; returns that line."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    line = one_error_line(capsys)
    assert line.startswith("minidl")
    return line
