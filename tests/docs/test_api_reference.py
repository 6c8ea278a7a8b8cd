"""The API reference: ``minidl docs DIR`` builds it with pdoc, and every public class and
method of minidl, zoo and transfer has a docstring to show there."""

import pytest

pytest.importorskip("pdoc")

from minidl import cli
from minidl.cli.docs import undocumented


def test_the_reference_is_built_for_every_package(tmp_path, capsys):
    assert cli.main(["docs", str(tmp_path / "api")]) == 0
    assert str(tmp_path / "api" / "index.html") in capsys.readouterr().out
    for page in ("minidl.html", "zoo.html", "transfer.html", "transfer/helper.html",
                 "transfer/builders.html", "transfer/fine_tune.html"):
        assert (tmp_path / "api" / page).is_file(), page
    helper = (tmp_path / "api" / "transfer" / "helper.html").read_text(encoding="utf-8")
    # DL4J's reference pages: the class, its methods and their docstrings
    assert "TransferLearningHelper" in helper and "fit_featurized" in helper
    assert "Train the unfrozen part on featurized data" in helper


def test_every_public_class_and_method_has_a_docstring():
    missing = undocumented()
    assert not missing, f"{len(missing)} without a docstring: {', '.join(missing)}"


def test_a_missing_docstring_is_found(tmp_path, monkeypatch):
    """The check itself: a package with one undocumented method is reported."""
    package = tmp_path / "undocumented_pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n\n\nclass Thing:\n'
                                         '    """A thing."""\n\n    def run(self):\n'
                                         '        return 1\n\n    def _hidden(self):\n'
                                         '        return 2\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented(["undocumented_pkg"]) == ["undocumented_pkg.Thing.run"]
