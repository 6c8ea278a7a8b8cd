"""The TensorFlow flower photos (5 classes, 3,670 JPEGs) as DL4J's transfer-learning examples use them.

DL4J's example class is static; so is this one::

    FlowerDataSetIterator.setup(batch_size=15, train_percent=80)
    train = FlowerDataSetIterator.train_iterator()    # 224x224x3, BGR, VGG16 mean subtracted
    test = FlowerDataSetIterator.test_iterator()

``setup`` downloads ``flower_photos.tgz`` (228,813,984 bytes, sha256-checked) into
``<MINIDL_HOME>/datasets`` once, extracts it safely, and splits it like the example: a seeded
``FileSplit``, a ``BalancedPathFilter`` (every class cut to the rarest one's 633 images), then
``train_percent`` / ``100 - train_percent``. Point ``data_dir`` at any folder of class folders to
use your own images instead.
"""

import random

from minidl.data.records import ImageRecordReader, RecordReaderDataSetIterator
from minidl.data.splits import (ALLOWED_FORMATS, BalancedPathFilter, FileSplit,
                                ParentPathLabelGenerator)
from minidl.io import datasets_dir, download, extract_archive
from minidl.naming import Dl4jNames

FLOWERS_URL = "http://download.tensorflow.org/example_images/flower_photos.tgz"
FLOWERS_SHA256 = "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"
FLOWERS_FOLDER = "flower_photos"
VGG16_PREPROCESSOR = "vgg16"  # the default pre_processor: VGG16ImagePreProcessor, as in the example


class FlowerDataSetIterator(Dl4jNames):
    """Static helper mirroring DL4J's example ``FlowerDataSetIterator`` (see module docstring)."""

    height, width, channels = 224, 224, 3
    channel_order = "BGR"
    batch_size = None
    train_split = test_split = None
    data_dir = None
    pre_processor = VGG16_PREPROCESSOR

    @classmethod
    def setup(cls, batch_size, train_percent, *, url=FLOWERS_URL, checksum=FLOWERS_SHA256,
              data_dir=None, seed=12345, pre_processor=VGG16_PREPROCESSOR, progress=True,
              image_size=224, channel_order="BGR"):
        """Fetch (unless ``data_dir`` is given) and split the images; returns the class.

        ``train_percent`` must be in (0, 100): the test part gets the rest. ``pre_processor``
        is applied to every batch (None for raw 0..255 pixels). Images are resized to
        ``image_size`` squared, channels in ``channel_order`` ("BGR" as DL4J, or "RGB" for
        torchvision weights).
        """
        if not 0 < train_percent < 100:
            raise ValueError(f"FlowerDataSetIterator.setup: train_percent must be in (0, 100) so "
                             f"the test part is not empty, got {train_percent}")
        cls.batch_size, cls.pre_processor = int(batch_size), pre_processor
        cls.height = cls.width = int(image_size)
        cls.channel_order = channel_order
        cls.data_dir = data_dir = fetch_flowers(url, checksum, progress) if data_dir is None else data_dir
        rng = random.Random(seed)
        files = FileSplit(data_dir, ALLOWED_FORMATS, rng)
        if files.length() == 0:
            raise FileNotFoundError(f"FlowerDataSetIterator: no images under {data_dir} "
                                    f"(expected one sub-folder of images per class)")
        path_filter = BalancedPathFilter(rng, ALLOWED_FORMATS, ParentPathLabelGenerator())
        cls.train_split, cls.test_split = files.sample(path_filter, train_percent, 100 - train_percent)
        return cls

    @classmethod
    def train_iterator(cls):
        """An iterator over the training part set up by ``setup``."""
        return cls._make_iterator(cls.train_split)

    @classmethod
    def test_iterator(cls):
        """An iterator over the test part set up by ``setup``."""
        return cls._make_iterator(cls.test_split)

    @classmethod
    def _make_iterator(cls, split):
        if split is None:
            raise RuntimeError("FlowerDataSetIterator: call setup(batch_size, train_percent) first")
        reader = ImageRecordReader(cls.height, cls.width, cls.channels, ParentPathLabelGenerator(),
                                   channel_order=cls.channel_order)
        reader.initialize(split)
        iterator = RecordReaderDataSetIterator(reader, cls.batch_size, 1, reader.num_labels())
        pre_processor = cls.pre_processor
        if pre_processor == VGG16_PREPROCESSOR:
            from minidl.data.normalizers import VGG16ImagePreProcessor
            pre_processor = VGG16ImagePreProcessor()
        if pre_processor is not None:
            iterator.set_pre_processor(pre_processor)
        return iterator


def fetch_flowers(url=FLOWERS_URL, checksum=FLOWERS_SHA256, progress=True):
    """``<datasets>/flower_photos``: downloaded and extracted on first use; returns its path."""
    root = datasets_dir()
    folder = root / FLOWERS_FOLDER
    if folder.is_dir():
        return folder
    archive = download(url, root / "flower_photos.tgz", checksum=checksum, progress=progress)
    extract_archive(archive, root)
    if not folder.is_dir():
        raise FileNotFoundError(f"{archive} did not contain a {FLOWERS_FOLDER}/ folder")
    return folder
