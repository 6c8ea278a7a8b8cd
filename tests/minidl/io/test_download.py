import hashlib
import os
import socket
import zlib

import pytest
import requests

from minidl.io import ChecksumError, DownloadError, download

DATA = bytes(range(256)) * 1000  # 256 kB, enough for several stream chunks
SHA256 = hashlib.sha256(DATA).hexdigest()


def test_download_success_with_progress_bar(local_http, tmp_path, capsys):
    url = local_http.add("/weights.bin", DATA)
    path = download(url, tmp_path / "weights.bin", checksum=SHA256)
    assert path.read_bytes() == DATA
    assert not (tmp_path / "weights.bin.part").exists()
    assert "weights.bin" in capsys.readouterr().err  # tqdm drew its bar on stderr


def test_download_into_folder_names_file_after_url(local_http, tmp_path):
    url = local_http.add("/dir/archive.tgz", DATA)
    path = download(url, tmp_path, progress=False)
    assert path == tmp_path / "archive.tgz" and path.read_bytes() == DATA


@pytest.mark.parametrize("algorithm, checksum", [
    ("md5", hashlib.md5(DATA).hexdigest()),
    ("adler32", zlib.adler32(DATA)),             # DL4J's zoo checksums are decimal ints
    ("sha256", SHA256[:8].upper()),              # torch hub style prefix, any case
])
def test_download_accepts_each_checksum_kind(local_http, tmp_path, algorithm, checksum):
    url = local_http.add("/f.bin", DATA)
    path = download(url, tmp_path / "f.bin", checksum=checksum, algorithm=algorithm, progress=False)
    assert path.read_bytes() == DATA


def test_checksum_mismatch_leaves_no_file(local_http, tmp_path):
    url = local_http.add("/f.bin", DATA)
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError) as info:
        download(url, dest, checksum="0" * 64, progress=False)
    message = str(info.value)
    assert url in message and str(dest) in message and "checksum mismatch" in message
    assert SHA256 in message  # the actual digest, to compare by hand
    assert os.listdir(tmp_path) == []


def test_resume_after_dropped_connection_uses_range(local_http, tmp_path):
    url = local_http.add("/f.bin", DATA, drop_after=100_000)
    path = download(url, tmp_path / "f.bin", checksum=SHA256, progress=False, backoff=0)
    assert path.read_bytes() == DATA
    first, second = [r for _, r, _ in local_http.log]
    assert first is None
    # the second request asks only for the bytes the part file lacks (what had arrived before
    # the hang-up, rounded down to whole stream chunks)
    resumed_at = int(second.removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 100_000


def test_partial_file_from_an_earlier_run_is_resumed(local_http, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(DATA[:5000])
    url = local_http.add("/f.bin", DATA)
    download(url, tmp_path / "f.bin", checksum=SHA256, progress=False)
    assert local_http.log == [("/f.bin", "bytes=5000-", 206)]
    assert (tmp_path / "f.bin").read_bytes() == DATA


def test_server_errors_are_retried(local_http, tmp_path):
    url = local_http.add("/f.bin", DATA, errors=2)
    path = download(url, tmp_path / "f.bin", checksum=SHA256, progress=False, backoff=0)
    assert path.read_bytes() == DATA
    assert [status for *_, status in local_http.log] == [500, 500, 200]


def test_persistent_server_error_names_url_and_destination(local_http, tmp_path):
    url = local_http.add("/f.bin", DATA, errors=10)
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as info:
        download(url, dest, progress=False, retries=2, backoff=0)
    assert "HTTP 500" in str(info.value) and url in str(info.value) and str(dest) in str(info.value)
    assert len(local_http.log) == 3 and not dest.exists()


def test_not_found_is_not_retried(local_http, tmp_path):
    url = local_http.url("/missing.bin")
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(url, tmp_path / "m.bin", progress=False, backoff=0)
    assert len(local_http.log) == 1


@pytest.fixture
def connection_attempts(monkeypatch):
    """Every host name urllib3 resolves, in order (it resolves before each connection, IP
    addresses too). Names under the reserved ``.invalid`` TLD (RFC 2606) fail as an unknown
    name does, here, without asking any DNS server."""
    attempts, real_getaddrinfo = [], socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        attempts.append(host)
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def refused_url(path):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def test_offline_error_explains_how_to_place_the_file(tmp_path, connection_attempts):
    url = refused_url("/vgg16.h5")
    dest = tmp_path / "models" / "vgg16.h5"
    with pytest.raises(DownloadError) as info:
        download(url, dest, checksum="ab" * 16, algorithm="md5", progress=False, retries=3,
                 backoff=0)
    message = str(info.value)
    assert url in message and str(dest) in message
    assert "place it at" in message and "md5 " + "ab" * 16 in message
    assert "offline" in message
    assert connection_attempts == ["127.0.0.1"]  # refused: not retried


def test_unknown_host_name_fails_at_once(tmp_path, connection_attempts):
    url = "https://weights.example.invalid/vgg16.h5"
    dest = tmp_path / "vgg16.h5"
    with pytest.raises(DownloadError) as info:
        download(url, dest, checksum="ab" * 16, algorithm="md5", progress=False, retries=3,
                 backoff=0)
    message = str(info.value)
    assert connection_attempts == ["weights.example.invalid"]
    assert "cannot connect (offline?)" in message and "weights.example.invalid" in message
    assert "failed after" not in message and url in message and "md5 " + "ab" * 16 in message
    assert not dest.exists()


def test_connect_timeouts_are_retried(tmp_path, monkeypatch):
    # A connect timeout (requests.ConnectTimeout is also a ConnectionError) may be a slow
    # network, unlike a refusal: it is retried.
    calls = []

    def timing_out(url, **kwargs):
        calls.append(url)
        raise requests.ConnectTimeout("connect timed out")

    monkeypatch.setattr(requests, "get", timing_out)
    with pytest.raises(DownloadError, match="failed after 3 attempts: connect timed out"):
        download("http://slow.example.invalid/f.bin", tmp_path / "f.bin", progress=False,
                 retries=2, backoff=0)
    assert len(calls) == 3


def test_existing_valid_file_is_not_downloaded_again(local_http, tmp_path):
    (tmp_path / "f.bin").write_bytes(DATA)
    url = local_http.add("/f.bin", DATA)
    download(url, tmp_path / "f.bin", checksum=SHA256, progress=False)
    assert local_http.log == []


def test_existing_corrupt_file_is_replaced(local_http, tmp_path):
    (tmp_path / "f.bin").write_bytes(b"garbage")
    url = local_http.add("/f.bin", DATA)
    download(url, tmp_path / "f.bin", checksum=SHA256, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == DATA
