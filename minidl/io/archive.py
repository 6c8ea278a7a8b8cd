"""Safe extraction of .tar, .tar.gz/.tgz, .tar.bz2/.tar.xz and .zip archives.

An archive is untrusted input: a member named ``../../.bashrc`` or ``/etc/passwd``, or a link
pointing outside the target, would write where it should not ("tar slip"). ``extract_archive``
checks every member before writing anything and refuses the whole archive if one is unsafe.
It then extracts into a temporary folder beside ``dest`` and moves the result into place, so an
interrupted extraction never leaves a half-filled data set that looks complete.
"""

import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """An archive member would land (or point) outside the extraction folder."""


def extract_archive(path, dest):
    """Extract the archive at ``path`` into the folder ``dest`` and return ``dest`` as a Path.

    ``dest`` may exist; the archive's top-level entries are moved into it, and an entry that is
    already there is an error (delete it to extract again). Members with absolute paths, ``..``
    components, links resolving outside ``dest``, or device files are refused.
    """
    path, dest = Path(path), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.extract-"))
    try:
        _extract_checked(path, tmp)
        _move_into(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed to dest
    return dest


def _extract_checked(path, target):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                _check_name(path, name)
            archive.extractall(target)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            for member in members:
                _check_tar_member(path, member)
            if hasattr(tarfile, "data_filter"):  # Python's own checks as a second line of defence
                archive.extractall(target, members=members, filter="data")
            else:
                archive.extractall(target, members=members)
    else:
        raise ValueError(f"{path}: not a zip or tar archive (expected .zip, .tar, .tar.gz/.tgz, "
                         f".tar.bz2 or .tar.xz)")


def _inside(relative):
    """Whether the archive-relative POSIX path stays inside the extraction root."""
    normal = posixpath.normpath(relative)
    return not (normal == ".." or normal.startswith("../"))


def _check_name(archive, name):
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if not _inside(name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the "
                                 f"target folder; refusing to extract")


def _check_tar_member(archive, member):
    _check_name(archive, member.name)
    if member.issym():
        # a symlink's target is relative to the folder holding the link
        target = member.linkname
        resolved = posixpath.join(posixpath.dirname(member.name), target)
        if target.startswith("/") or not _inside(resolved):
            raise UnsafeArchiveError(f"{archive}: symlink {member.name!r} -> {target!r} points "
                                     f"outside the target folder; refusing to extract")
    elif member.islnk():
        # a hard link's target is relative to the archive root
        if member.linkname.startswith("/") or not _inside(member.linkname):
            raise UnsafeArchiveError(f"{archive}: hard link {member.name!r} -> {member.linkname!r} "
                                     f"points outside the target folder; refusing to extract")
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or fifo; "
                                 f"refusing to extract")


def _move_into(tmp, dest):
    entries = sorted(tmp.iterdir())
    if not dest.exists():
        os.replace(tmp, dest)  # one rename: dest appears complete or not at all
        return
    clashes = [entry.name for entry in entries if (dest / entry.name).exists()]
    if clashes:
        raise FileExistsError(f"cannot extract into {dest}: {clashes} already exist there; "
                              f"delete them to extract again")
    for entry in entries:
        os.replace(entry, dest / entry.name)

