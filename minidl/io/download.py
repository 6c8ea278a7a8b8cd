"""Download a file once, verify it, and never leave a half-written or wrong file behind.

``download(url, dest)`` streams with ``requests`` into ``<dest>.part`` with a tqdm progress bar,
checks the size the server announced and the checksum you give, then renames the part file to
``dest`` (``os.replace``: atomic). If the connection drops, the next attempt (or the next call)
resumes the part file with an HTTP ``Range`` request. Transient failures (timeouts, dropped or
reset connections, 5xx, 429) are retried with exponential backoff; anything else fails at once,
including a connection that cannot even be opened (unknown host name, connection refused,
network unreachable): offline, retrying only makes the user wait for the same answer.

Every error names the URL, the destination and how to put the file there by hand, because the
usual reason a download fails is a machine without internet access.
"""

import os
import time
from pathlib import Path
from urllib.parse import urlparse

import requests
from tqdm.auto import tqdm
from urllib3.exceptions import NewConnectionError

from minidl.io.checksum import file_checksum, matches

_CHUNK = 1 << 16
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}


class DownloadError(OSError):
    """A download that could not complete (offline, HTTP error, size or checksum mismatch)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected checksum; nothing was kept."""


class _Failed(Exception):
    """Why one attempt failed, for the message; ``transient`` when another attempt may succeed
    (a dropped connection, a 5xx), not when it would get the same answer (a 404, offline)."""

    def __init__(self, reason, transient):
        super().__init__(reason)
        self.transient = transient


def download(url, dest, *, checksum=None, algorithm="sha256", progress=True, retries=3,
             backoff=1.0, timeout=30.0):
    """Fetch ``url`` into ``dest`` and return its path.

    ``dest`` is a file path, or an existing folder (the file is then named after the URL).
    ``checksum`` is the expected digest for ``algorithm`` ("sha256", "md5", ... as hex; "adler32"
    as DL4J's decimal number). An existing ``dest`` is reused when it passes the checksum (or
    when no checksum is given); one that fails is downloaded again. ``retries`` extra attempts
    follow transient errors, waiting ``backoff * 2**attempt`` seconds.
    """
    dest = _destination(url, dest)
    if dest.exists():
        if checksum is None or matches(file_checksum(dest, algorithm), checksum, algorithm):
            return dest
        dest.unlink()  # a stale or corrupt copy: fetch it again, as DL4J's zoo does
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    for attempt in range(retries + 1):
        try:
            _fetch(url, part, progress, timeout)
            break
        except _Failed as failure:
            if not failure.transient:
                raise DownloadError(_message(url, dest, checksum, algorithm, failure)) from None
            if attempt == retries:
                raise DownloadError(_message(url, dest, checksum, algorithm,
                                             f"failed after {retries + 1} attempts: {failure}")) from None
            time.sleep(backoff * 2 ** attempt)

    _verify(part, url, dest, checksum, algorithm)
    os.replace(part, dest)
    return dest


def _destination(url, dest):
    dest = Path(dest)
    if dest.is_dir():
        name = Path(urlparse(url).path).name
        if not name:
            raise ValueError(f"cannot name a file after {url!r}: pass a file path as dest")
        dest = dest / name
    return dest


def _fetch(url, part, progress, timeout):
    """One attempt: append the missing bytes to ``part``. Raises _Failed when it cannot."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
            if response.status_code == 416:  # our part file is already the whole file
                return
            if response.status_code not in (200, 206):
                raise _Failed(f"HTTP {response.status_code} {response.reason}",
                              transient=response.status_code in _TRANSIENT_STATUS)
            if response.status_code == 200:
                have = 0  # the server ignored Range: start over
            total = _expected_size(response, have)
            _stream(response, part, have, total, progress, url)
    except requests.ConnectionError as error:
        unreachable = _connection_refusal(error)
        if unreachable is not None:
            raise _Failed(f"cannot connect (offline?): {unreachable}", transient=False) from None
        raise _Failed(str(error), transient=True) from None
    except (requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
        raise _Failed(str(error), transient=True) from None


def _connection_refusal(error):
    """The urllib3 error when no connection could be opened at all (the host name did not
    resolve, the host refused or could not be reached), else None. urllib3 raises
    NewConnectionError (NameResolutionError is one) for each; requests wraps it in a
    MaxRetryError whose ``reason`` it is. A connect *timeout* is not one: it is retried."""
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)
    return reason if isinstance(reason, NewConnectionError) else None


def _expected_size(response, have):
    length = response.headers.get("Content-Length")
    return have + int(length) if length is not None else None


def _stream(response, part, have, total, progress, url):
    mode = "ab" if have else "wb"
    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
               desc=Path(urlparse(url).path).name, disable=not progress, leave=False)
    with bar, open(part, mode) as f:
        for block in response.iter_content(_CHUNK):
            f.write(block)
            bar.update(len(block))
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Failed(f"connection dropped after {got} of {total} bytes", transient=True)


def _verify(part, url, dest, checksum, algorithm):
    if checksum is None:
        return
    actual = file_checksum(part, algorithm)
    if not matches(actual, checksum, algorithm):
        part.unlink()  # never leave bytes that could be mistaken for the real file
        raise ChecksumError(_message(url, dest, checksum, algorithm,
                                     f"{algorithm} checksum mismatch: got {actual}; "
                                     f"the partial download was deleted"))


def _message(url, dest, checksum, algorithm, reason):
    by_hand = f"download it elsewhere and place it at {dest}"
    if checksum is not None:
        by_hand += f" (expected {algorithm} {checksum})"
    return f"could not download {url} to {dest}: {reason}. To install it by hand, {by_hand}."
