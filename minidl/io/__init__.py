"""Files: downloads with checksums and resume, safe archive extraction, the cache folders,
atomic writes. (ModelSerializer lives beside these in model_serializer.py.)"""

from minidl.io.atomic import atomic_write
from minidl.io.cache import datasets_dir, minidl_home, models_dir
from minidl.io.checksum import file_checksum
from minidl.io.download import ChecksumError, DownloadError, download
from minidl.io.archive import UnsafeArchiveError, extract_archive
from minidl.io.model_serializer import ModelSerializer
