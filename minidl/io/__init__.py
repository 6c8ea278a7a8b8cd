"""Files: downloads with checksums and resume, safe archive extraction, the cache folders,
atomic writes. Leaf utilities: nothing here imports the rest of minidl, so every part of it
may use them. (The network files, ModelSerializer, are in ``minidl.nn.serializer``.)"""

from minidl.io.atomic import atomic_write
from minidl.io.cache import datasets_dir, minidl_home, models_dir
from minidl.io.checksum import file_checksum
from minidl.io.download import ChecksumError, DownloadError, download
from minidl.io.archive import UnsafeArchiveError, extract_archive
from minidl.io.optional import MissingDependencyError, require
