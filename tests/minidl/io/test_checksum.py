import hashlib
import zlib

import pytest

from minidl.io.checksum import file_checksum, matches


def test_file_checksums_match_hashlib_and_zlib(tmp_path):
    data = b"minidl" * 100_000
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_checksum(path, "sha256") == hashlib.sha256(data).hexdigest()
    assert file_checksum(path, "md5") == hashlib.md5(data).hexdigest()
    assert file_checksum(path, "adler32") == str(zlib.adler32(data))


def test_matches_rules():
    assert matches("3501732770", 3501732770, "adler32")
    assert not matches("3501732770", "35017327", "adler32")  # no prefix matching for Adler-32
    assert matches("397923afdeadbeef", "397923AF", "sha256")
    assert not matches("397923afdeadbeef", "397923", "sha256")  # too short to trust


def test_unknown_algorithm_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="unknown checksum algorithm 'crc99'"):
        file_checksum(tmp_path / "f", "crc99")
