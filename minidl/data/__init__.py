"""Data: DataSet, iterators, normalizers, images and record readers."""

from minidl.data.dataset import DataSet
