"""Data: DataSet, iterators, normalizers, images and record readers."""

from minidl.data.dataset import DataSet, MultiDataSet, SplitTestAndTrain
from minidl.data.image import BaseImageLoader, ImageDecodeError, NativeImageLoader
from minidl.data.splits import (BalancedPathFilter, FileSplit, InputSplit,
                                ParentPathLabelGenerator, RandomPathFilter)
from minidl.data.records import ImageRecordReader, RecordReaderDataSetIterator
from minidl.data.flowers import FlowerDataSetIterator
from minidl.data.iterators import (ArrayDataSetIterator, AsyncDataSetIterator, DataSetIterator,
                                   ExistingDataSetIterator, ExistingMiniBatchDataSetIterator,
                                   INDArrayDataSetIterator, ListDataSetIterator,
                                   ListMultiDataSetIterator, MultipleEpochsIterator,
                                   MultiDataSetIterator, MultiDataSetIteratorAdapter)
from minidl.data.normalizers import (DataNormalization, ImagePreProcessingScaler,
                                     NormalizerStandardize, VGG16ImagePreProcessor)
