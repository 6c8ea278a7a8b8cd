import io
import os
import tarfile
import zipfile

import pytest

from minidl.io import UnsafeArchiveError, extract_archive


def _tar(path, members, mode="w:gz"):
    """members: (name, bytes) for files, (name, ("sym"|"hard", target)) for links."""
    with tarfile.open(path, mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                kind, target = content
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = target
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_tgz_extracts_files_and_safe_links(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("flowers/daisy/1.jpg", b"one"),
                                         ("flowers/roses/2.jpg", b"two"),
                                         ("flowers/link.jpg", ("sym", "daisy/1.jpg"))])
    dest = extract_archive(archive, tmp_path / "out")
    assert (dest / "flowers/daisy/1.jpg").read_bytes() == b"one"
    assert (dest / "flowers/roses/2.jpg").read_bytes() == b"two"
    assert (dest / "flowers/link.jpg").read_bytes() == b"one"
    assert sorted(os.listdir(tmp_path)) == ["a.tgz", "out"]  # the temp folder is gone


def test_zip_extracts(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("d/x.txt", "hello")
    dest = extract_archive(tmp_path / "a.zip", tmp_path / "out")
    assert (dest / "d/x.txt").read_text() == "hello"


@pytest.mark.parametrize("members, expected", [
    ([("ok.txt", b"x"), ("../evil.txt", b"x")], "outside the target"),
    ([("a/../../evil.txt", b"x")], "outside the target"),
    ([("/etc/evil.txt", b"x")], "absolute path"),
    ([("link", ("sym", "/etc/passwd"))], "symlink"),
    ([("d/link", ("sym", "../../evil"))], "symlink"),
    ([("hard", ("hard", "../evil"))], "hard link"),
])
def test_unsafe_tar_members_are_refused_before_anything_is_written(tmp_path, members, expected):
    archive = _tar(tmp_path / "bad.tar", members, mode="w")
    with pytest.raises(UnsafeArchiveError, match=expected) as info:
        extract_archive(archive, tmp_path / "out" / "data")
    assert str(archive) in str(info.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert os.listdir(tmp_path / "out") == []  # no partial extraction, no temp folder left


def test_unsafe_zip_member_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(UnsafeArchiveError, match="outside the target"):
        extract_archive(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_extract_into_existing_folder_moves_entries_and_refuses_clashes(tmp_path):
    archive = _tar(tmp_path / "a.tgz", [("flower_photos/daisy/1.jpg", b"one")])
    dest = tmp_path / "datasets"
    dest.mkdir()
    (dest / "other").mkdir()
    extract_archive(archive, dest)
    assert (dest / "flower_photos/daisy/1.jpg").read_bytes() == b"one"
    assert (dest / "other").is_dir()
    with pytest.raises(FileExistsError, match="flower_photos"):
        extract_archive(archive, dest)


def test_not_an_archive(tmp_path):
    (tmp_path / "x.tgz").write_bytes(b"not an archive at all")
    with pytest.raises(ValueError, match="not a zip or tar archive"):
        extract_archive(tmp_path / "x.tgz", tmp_path / "out")
