"""The demo's source network: a small VGG16-shaped ComputationGraph with DL4J's pretrained vertex
names, pretrained on the source shapes once and cached under ``$MINIDL_HOME/models/demo/``,
the stand-in for VGG16's ImageNet weights."""

import hashlib
import json

from minidl.backend import get_device
from minidl.data.normalizers import ImagePreProcessingScaler
from minidl.io import models_dir
from minidl.learning import Adam
from minidl.nn.conf import (Activation, CnnToFeedForwardPreProcessor, ConvolutionLayer,
                            DenseLayer, InputType, LossFunction, NeuralNetConfiguration,
                            OutputLayer, PoolingType, PreprocessorVertex, SubsamplingLayer)
from minidl.nn.conf.weight_init import WeightInit
from minidl.nn.graph import ComputationGraph
from minidl.nn.serializer import ModelSerializer
from transfer.demo.shapes import IMAGE_SIZE, SOURCE_SHAPES, make_images, to_dataset
from transfer.demo.training import FULL, train_epochs

CACHE_VERSION = 1  # bump when the source model or its data change: old caches are then ignored


def small_vgg(num_classes, seed=12345, size=IMAGE_SIZE, channels=(8, 16, 32, 32, 32), fc=64,
              updater=None):
    """A VGG16-shaped ComputationGraph, shrunk: five blocks of one 3x3 conv + 2x2 max pool,
    ``flatten``, two dense layers and a softmax output, with the vertex names of DL4J's
    pretrained VGG16 (so every example's vertex names work on it). Input [batch, 3, size, size]
    with ``size`` a multiple of 32; ``predictions`` is an OutputLayer so it can be trained."""
    if size % 32:
        raise ValueError(f"small_vgg: size must be a multiple of 32 (five 2x2 pools), got {size}")
    builder = (NeuralNetConfiguration.Builder().seed(seed).updater(updater or Adam(2e-3))
               .activation(Activation.RELU).weight_init(WeightInit.RELU)
               .graph_builder().add_inputs("input_1"))
    previous = "input_1"
    for block, n_out in enumerate(channels, 1):
        builder.add_layer(f"block{block}_conv1", ConvolutionLayer(
            kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), n_out=n_out), previous)
        builder.add_layer(f"block{block}_pool", SubsamplingLayer(
            pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)), f"block{block}_conv1")
        previous = f"block{block}_pool"
    side = size // 32
    builder.add_vertex("flatten", PreprocessorVertex(
        CnnToFeedForwardPreProcessor(side, side, channels[-1])), previous)
    builder.add_layer("fc1", DenseLayer(n_out=fc), "flatten")
    builder.add_layer("fc2", DenseLayer(n_out=fc), "fc1")
    builder.add_layer("predictions", OutputLayer(
        loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=num_classes,
        activation=Activation.SOFTMAX, weight_init=WeightInit.XAVIER), "fc2")
    conf = builder.set_outputs("predictions").set_input_types(
        InputType.convolutional(size, size, 3)).build()
    return ComputationGraph(conf).init()


def source_model_path(seed=12345, settings=None):
    """Where the pretrained source model for this seed and these settings is cached."""
    key = json.dumps({"seed": seed, "size": IMAGE_SIZE, "shapes": SOURCE_SHAPES,
                      "per_class": (settings or FULL)["source_per_class"],
                      "epochs": (settings or FULL)["source_epochs"], "version": CACHE_VERSION},
                     sort_keys=True)
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    return models_dir() / "demo" / f"source-vgg-{tag}.zip"


def pretrained_source_model(seed=12345, settings=None, progress=False, log=print):
    """The small VGG trained on the source shapes: from the cache, or trained once and cached.
    Returns (network, True if it came from the cache)."""
    settings = settings or FULL
    path = source_model_path(seed, settings)
    get_device()  # a bad device setting fails here, not as a "damaged" cache file below
    if path.exists():
        try:
            return ModelSerializer.restore_computation_graph(path), True
        except ValueError as error:  # a damaged cache file is rebuilt, not fatal
            log(f"ignoring the damaged cached model {path}: {error}")
    net = small_vgg(len(SOURCE_SHAPES), seed)
    data = to_dataset(*make_images(SOURCE_SHAPES, settings["source_per_class"], seed),
                      len(SOURCE_SHAPES))
    train_epochs(net.fit, data, settings["source_epochs"], settings["batch_size"], seed, progress,
                 "pretraining on source shapes")
    path.parent.mkdir(parents=True, exist_ok=True)
    # atomic; with the pixel scaling of to_dataset, so the saved model says how to feed it
    ModelSerializer.write_model(net, path, save_updater=False,
                                normalizer=ImagePreProcessingScaler())
    return net, False
