"""File checksums: any ``hashlib`` algorithm (md5, sha256, ...) and DL4J's Adler-32.

DL4J's zoo publishes Adler-32 sums as decimal integers (``3501732770``); hashlib digests are
hex strings. ``matches`` compares either kind, so callers can pass what their source publishes.
"""

import hashlib
import zlib

_CHUNK = 1 << 20


class _Adler32:
    """The hashlib interface (update / hexdigest) over ``zlib.adler32``."""

    def __init__(self):
        self.value = 1  # Adler-32 of the empty string

    def update(self, data):
        self.value = zlib.adler32(data, self.value)

    def hexdigest(self):
        return str(self.value)  # DL4J writes the decimal number


def new_hasher(algorithm):
    """A fresh hasher for ``algorithm`` ("md5", "sha256", "adler32", ...)."""
    name = algorithm.lower().replace("-", "")
    if name == "adler32":
        return _Adler32()
    try:
        return hashlib.new(name)
    except ValueError:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}: expected 'adler32' or one of "
                         f"{sorted(hashlib.algorithms_available)}") from None


def file_checksum(path, algorithm="sha256"):
    """The checksum of the file at ``path``: a hex string, or a decimal string for adler32."""
    hasher = new_hasher(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(block)
    return hasher.hexdigest()


def matches(actual, expected, algorithm="sha256"):
    """Whether a computed checksum equals the expected one.

    ``expected`` may be an int (Adler-32) or a string, compared case-insensitively. A hex string
    of at least 8 digits but shorter than the digest matches as a prefix: torch hub names files
    by the first 8 hex digits of their SHA-256 (``vgg16-397923af.pth``).
    """
    actual = str(actual).lower()
    expected = str(expected).strip().lower()
    is_hex_digest = algorithm.lower().replace("-", "") != "adler32"
    if is_hex_digest and 8 <= len(expected) < len(actual):
        return actual.startswith(expected)
    return actual == expected
