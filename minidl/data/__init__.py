"""Data: DataSet, iterators, normalizers, images and record readers."""

from minidl.data.dataset import DataSet
from minidl.data.image import ImageDecodeError, NativeImageLoader
from minidl.data.records import (BalancedPathFilter, FileSplit, ImageRecordReader, InputSplit,
                                 ParentPathLabelGenerator, RandomPathFilter,
                                 RecordReaderDataSetIterator)
from minidl.data.flowers import FlowerDataSetIterator
