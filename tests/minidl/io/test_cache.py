from pathlib import Path

from minidl.io import datasets_dir, minidl_home, models_dir


def test_home_defaults_to_dot_minidl(monkeypatch):
    monkeypatch.delenv("MINIDL_HOME", raising=False)
    assert minidl_home() == Path.home() / ".minidl"


def test_minidl_home_overrides_and_subdirs_are_created(minidl_home):
    assert models_dir() == minidl_home / "models" and (minidl_home / "models").is_dir()
    assert datasets_dir() == minidl_home / "datasets" and (minidl_home / "datasets").is_dir()


def test_subdir_without_create(minidl_home):
    assert models_dir(create=False) == minidl_home / "models"
    assert not (minidl_home / "models").exists()
