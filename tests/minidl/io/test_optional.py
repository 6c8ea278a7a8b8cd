"""minidl.io.optional: a missing optional package is one error naming the feature and the
extra that installs it; the CLI reports it as one line."""

import sys

import pytest

from minidl import cli
from minidl.io.optional import MissingDependencyError, require


def test_require_returns_the_module():
    import json
    assert require("json", "anything") is json


def test_a_missing_package_names_the_feature_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # an import of it now fails
    with pytest.raises(MissingDependencyError) as info:
        require("onnx", "importing ONNX models")
    assert str(info.value) == "importing ONNX models needs onnx: pip install 'minidl[onnx]'"
    assert isinstance(info.value, ImportError)


def test_a_package_of_no_extra_is_named_for_pip():
    with pytest.raises(MissingDependencyError, match="pip install no_such_package_here"):
        require("no_such_package_here.sub", "a test")


def test_the_cli_reports_it_as_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pdoc", None)
    assert cli.main(["docs", str(tmp_path / "api")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["minidl docs: error: the API reference needs pdoc: pip install "
                   "'minidl[docs]'"]
