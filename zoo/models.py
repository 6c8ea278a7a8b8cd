"""Zoo models: DL4J's architectures, randomly initialised or with pretrained ImageNet weights.

``VGG16().init()`` builds DL4J's ``conf()`` architecture (numeric vertex names, dropout dense
layers, an OutputLayer of ``num_classes``) with random weights, ready to train from scratch.
``VGG16().init_pretrained()`` builds the graph that DL4J's pretrained zip holds, with Keras'
vertex names (``input_1``, ``block1_conv1`` ... ``block5_pool``, ``flatten``, ``fc1``, ``fc2``,
``predictions``; ``predictions`` is a softmax DenseLayer, not an output layer) and loads the
converted ImageNet weights into it (see ``zoo.pretrained`` for where they come from).
"""

import dataclasses
import math

from minidl.data.normalizers import NormalizerStandardize, VGG16ImagePreProcessor
from minidl.learning.updaters import Nesterovs
from minidl.naming import Dl4jNames
from minidl.nn.conf import (Activation, ActivationLayer, BatchNormalization, ConvolutionLayer,
                            ConvolutionMode, DenseLayer, DropoutLayer, GlobalPoolingLayer,
                            InputType, LossFunction, NeuralNetConfiguration, OutputLayer,
                            PoolingType, PreprocessorVertex, CnnToFeedForwardPreProcessor,
                            SubsamplingLayer)
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.enums import Dl4jEnum, OptimizationAlgorithm
from minidl.nn.conf.weight_init import WeightInit
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork
from zoo.vgg_names import DENSE_NAMES, VGG_BLOCKS, VGG_CHANNELS


class PretrainedType(Dl4jEnum):
    """Which pretrained weights (DL4J's ``PretrainedType``)."""

    IMAGENET = "imagenet"
    IMAGENETLARGE = "imagenetlarge"
    MNIST = "mnist"
    CIFAR10 = "cifar10"
    VGGFACE = "vggface"
    SEGMENT = "segment"


class ZooType(Dl4jEnum):
    """The kind of network a zoo model is (DL4J's ``ZooType``)."""

    CNN = "cnn"
    RNN = "rnn"
    TEXTGENLSTM = "textgenlstm"


@dataclasses.dataclass(frozen=True)
class ModelMetaData(Dl4jNames):
    """What a zoo model takes and gives (DL4J's ``ModelMetaData``, deprecated there).

    ``input_shape`` holds one (channels, height, width) per network input; ``num_outputs`` is
    the number of network outputs (not of classes); ``use_mds()`` is true when there are several
    inputs, which then come as a MultiDataSet.
    """

    input_shape: tuple
    num_outputs: int
    zoo_type: ZooType

    def use_mds(self):
        """Whether the model takes several inputs (MultiDataSets)."""
        return len(self.input_shape) > 1



@dataclasses.dataclass
class ZooModel(Dl4jNames):
    """Base of the zoo models: ``conf()``, ``init()``, and pretrained weights where they exist.

    ``num_classes`` sizes the output layer of ``init()``; ``input_shape`` is (channels, height,
    width); ``seed`` seeds the random initialisation. The builder also takes DL4J's
    ``cacheMode``, ``workspaceMode`` and ``cudnnAlgoMode``, and drops them: minidl has no
    activation cache, no workspaces and no cuDNN.
    """

    num_classes: int = 1000
    seed: int = 1234
    input_shape: tuple = (3, 224, 224)
    updater: object = None

    builder_ignored = ("cache_mode", "workspace_mode", "cudnn_algo_mode")  # see the docstring

    pretrained = {}  # PretrainedType -> how to get the weights (see zoo.pretrained.SOURCES)
    pretrained_input_shape = None  # (channels, height, width) the pretrained weights expect
    top_vertices = ()  # the pretrained layout's top: what include_top=False leaves out

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        with_builder(cls)  # cls.Builder, with a setter per field: see builder()

    @classmethod
    def builder(cls):
        """DL4J's fluent constructor: ``VGG16.builder().numClasses(5).seed(42).build()`` is
        ``VGG16(num_classes=5, seed=42)``."""
        return cls.Builder()

    def model_name(self):
        """The model's name in the cache (the class name, lower case)."""
        return type(self).__name__.lower()

    def conf(self):
        """The configuration ``init()`` builds the network from."""
        raise NotImplementedError

    def model_type(self):
        """The network class ``init()`` and ``init_pretrained()`` return."""
        raise NotImplementedError

    def init(self):
        """The ``conf()`` network with fresh random parameters."""
        return self.model_type()(self.conf()).init()

    def meta_data(self):
        """Input shape and number of outputs (DL4J's ``metaData()``; one input, one output)."""
        return ModelMetaData((tuple(self.input_shape),), 1, ZooType.CNN)

    def set_input_shape(self, input_shape):
        """DL4J's ``setInputShape(int[][])``: one (channels, height, width) per input."""
        if len(input_shape) != 1 or len(input_shape[0]) != 3:
            raise ValueError(f"{type(self).__name__} has one input: expected [[channels, height, "
                             f"width]], got {input_shape!r}")
        self.input_shape = tuple(input_shape[0])

    def pretrained_available(self, pretrained_type=PretrainedType.IMAGENET):
        """Whether weights of ``pretrained_type`` exist for this model."""
        return PretrainedType.parse(pretrained_type) in self.pretrained

    def pretrained_url(self, pretrained_type=PretrainedType.IMAGENET, include_top=True):
        """Where the pretrained weights are downloaded from (a Keras .h5), or None when there
        are none of this type."""
        return self._pretrained_source(pretrained_type, include_top)[0]

    def pretrained_checksum(self, pretrained_type=PretrainedType.IMAGENET, include_top=True):
        """The md5 (hex) of the file at ``pretrained_url``, or None when there is none."""
        return self._pretrained_source(pretrained_type, include_top)[1]

    def _pretrained_source(self, pretrained_type, include_top):
        from zoo.pretrained import source

        architecture = self.pretrained.get(PretrainedType.parse(pretrained_type))
        return (None, None) if architecture is None else source(architecture, include_top)

    def init_pretrained(self, pretrained_type=PretrainedType.IMAGENET, *, include_top=True,
                        weights=None, progress=True):
        """A network with pretrained weights: from ``weights`` (a Keras .h5, torchvision .pth or
        converted .npz), else the cache, else downloaded once, checked, converted and cached."""
        from zoo.pretrained import load_pretrained

        kind = PretrainedType.parse(pretrained_type)
        if weights is None and kind not in self.pretrained:
            available = ", ".join(t.name for t in self.pretrained) or "none"
            raise ValueError(f"pretrained {kind.name} weights are not available for "
                             f"{type(self).__name__} (available: {available})")
        if weights is None and include_top and self.pretrained_input_shape:
            # say so before downloading half a gigabyte
            self._check_top_input(self.pretrained_input_shape[1:], f"the {kind.name} weights")
        values, metadata = load_pretrained(self, kind, include_top, weights, progress)
        return self.pretrained_network(values, metadata, include_top)

    def _check_top_input(self, size, source):
        """Dense layers read a flattened feature map, so pretrained ones fit only the input
        size (height, width) they were trained at; convolutions fit any size."""
        c, *configured = self.input_shape
        if tuple(configured) != tuple(size):
            h, w = size
            raise ValueError(
                f"{type(self).__name__}: the dense top of {source} needs {h}x{w} inputs, but "
                f"input_shape is {tuple(self.input_shape)}; use include_top=False for other "
                f"sizes (the convolution weights fit any size), or input_shape=({c}, {h}, {w})")

    def pretrained_network(self, weights, metadata, include_top):
        """The pretrained layout's network, loaded with ``weights``."""
        raise NotImplementedError(f"{type(self).__name__} has no pretrained layout")

    def load_into(self, graph, weights, metadata):
        """``graph`` (a pretrained layout, no parameters yet) with ``weights`` (flat
        "<vertex>_<param>" arrays) and the image preprocessing of their ``metadata``."""
        tables, unknown = graph.tables_from_flat(weights)
        source = metadata.get("source", {}).get("file", "?")
        try:  # names the first layer whose array is missing or misshapen
            graph.init_from_tables(tables)
        except ValueError as error:
            raise ValueError(f"{type(self).__name__}: {error} (the weights: "
                             f"{metadata.get('architecture', '?')}, source: {source})") from None
        # Extra arrays would be silently ignored (a VGG19 file has every VGG16 shape): refuse them.
        if unknown:
            raise ValueError(f"{type(self).__name__}: the weights have parameters {unknown} that "
                             f"this network does not have (weights of another architecture? "
                             f"source: {source})")
        graph.pre_processor = image_preprocessor(metadata)
        graph.preprocessing = {k: metadata.get(k) for k in ("channel_order", "mean", "std")}
        return graph

    def _defaults(self, activation=Activation.RELU):
        return (NeuralNetConfiguration.Builder().seed(self.seed)
                .updater(self.updater or Nesterovs())
                .optimization_algo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
                .activation(activation))


def _conv(n_out, **settings):
    return ConvolutionLayer(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), n_out=n_out,
                            **settings)


def _pool():
    return SubsamplingLayer(pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2))


@dataclasses.dataclass
class _VGG(ZooModel):
    """VGG: blocks of 3x3 convolutions (padding 1) separated by 2x2 max pools, then dense layers."""

    architecture = "vgg16"
    top_vertices = DENSE_NAMES
    dense_layers = 2  # DL4J's VGG16 conf() has two Dense(4096) layers, VGG19's one
    pretrained_input_shape = (3, 224, 224)  # ImageNet; DL4J's pretrained zip is 224x224 too

    def model_type(self):
        return ComputationGraph

    def conf(self):
        """DL4J's ``conf()``: numeric names, Dense(4096) with dropout 0.5, an NLL OutputLayer."""
        builder = self._defaults().graph_builder().add_inputs("in")
        previous, index = "in", 0
        for block, n_convs in enumerate(VGG_BLOCKS[self.architecture]):
            for _ in range(n_convs):
                builder.add_layer(str(index), _conv(VGG_CHANNELS[block]), previous)
                previous, index = str(index), index + 1
            builder.add_layer(str(index), _pool(), previous)
            previous, index = str(index), index + 1
        for _ in range(self.dense_layers):
            builder.add_layer(str(index), DenseLayer(n_out=4096, dropout=0.5), previous)
            previous, index = str(index), index + 1
        builder.add_layer(str(index), OutputLayer(
            name="output", loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=self.num_classes,
            activation=Activation.SOFTMAX), previous)
        c, h, w = self.input_shape
        return builder.set_outputs(str(index)).set_input_types(
            InputType.convolutional_flat(h, w, c)).build()

    def pretrained_conf(self, n_classes, include_top):
        """The layout of DL4J's pretrained zip (a Keras import), sized for the given weights."""
        builder = self._defaults().graph_builder().add_inputs("input_1")
        previous = "input_1"
        for block, n_convs in enumerate(VGG_BLOCKS[self.architecture], 1):
            for k in range(1, n_convs + 1):
                name = f"block{block}_conv{k}"
                builder.add_layer(name, _conv(VGG_CHANNELS[block - 1],
                                              convolution_mode=ConvolutionMode.Same), previous)
                previous = name
            builder.add_layer(f"block{block}_pool", _pool(), previous)
            previous = f"block{block}_pool"
        c, h, w = self.input_shape
        if include_top:
            side = h // 32
            builder.add_vertex("flatten", PreprocessorVertex(
                CnnToFeedForwardPreProcessor(side, w // 32, VGG_CHANNELS[-1])), previous)
            builder.add_layer("fc1", DenseLayer(n_out=4096), "flatten")
            builder.add_layer("fc2", DenseLayer(n_out=4096), "fc1")
            builder.add_layer("predictions", DenseLayer(n_out=n_classes,
                                                        activation=Activation.SOFTMAX), "fc2")
            previous = "predictions"
        return builder.set_outputs(previous).set_input_types(
            InputType.convolutional(h, w, c)).build()

    def pretrained_network(self, weights, metadata, include_top):
        if include_top:
            self._check_top_input(self._top_input_size(weights["fc1_W"].shape[0]),
                                  "these weights")
        n_classes = weights["predictions_b"].shape[0] if include_top else 0
        graph = ComputationGraph(self.pretrained_conf(n_classes, include_top))
        return self.load_into(graph, weights, metadata)

    def _top_input_size(self, fc1_inputs):
        """The square input whose last feature map (512 x side/32 x side/32) fc1 reads; the
        configured size when fc1_inputs fits no square (init_from_tables then names fc1_W)."""
        side = math.isqrt(fc1_inputs // VGG_CHANNELS[-1])
        if VGG_CHANNELS[-1] * side * side != fc1_inputs:
            return tuple(self.input_shape[1:])
        return 32 * side, 32 * side


def image_preprocessor(metadata):
    """The normalizer that prepares 0..255 images for weights with this metadata.

    Caffe/Keras weights: BGR minus the VGG mean (DL4J's VGG16ImagePreProcessor). torchvision
    weights: RGB, (x - mean) / std per channel; load images with channel_order="RGB".
    """
    if metadata.get("channel_order", "BGR") == "BGR" and all(s == 1.0 for s in metadata.get(
            "std", [1.0])):
        return VGG16ImagePreProcessor()
    return NormalizerStandardize(mean=metadata["mean"], std=metadata["std"])


@dataclasses.dataclass
class VGG16(_VGG):
    """VGG16: 13 convolutions in 5 blocks, 3 dense layers; pretrained on ImageNet (BGR input)."""

    pretrained = {PretrainedType.IMAGENET: "vgg16"}


@dataclasses.dataclass
class VGG19(_VGG):
    """VGG19: 16 convolutions in 5 blocks; DL4J's conf() has one Dense(4096) before the output."""

    architecture = "vgg19"
    dense_layers = 1
    pretrained = {PretrainedType.IMAGENET: "vgg19"}


@dataclasses.dataclass
class LeNet(ZooModel):
    """DL4J's zoo LeNet for 28x28 grayscale digits: conv 5x5 (20, ReLU) - max pool 2x2 - conv 5x5
    (50, ReLU) - max pool 2x2 - dense 500 (ReLU) - softmax output. Convolutions use Same mode, so
    a 28x28 input reaches the dense layer as 50x7x7. (DL4J's MNIST weights are not offered here.)
    DL4J's default updater is AdaDelta, which minidl lacks: Nesterovs unless ``updater`` is set."""

    num_classes: int = 10
    input_shape: tuple = (1, 28, 28)

    def model_type(self):
        return MultiLayerNetwork

    def conf(self):
        c, h, w = self.input_shape
        return (self._defaults(Activation.IDENTITY).weight_init(WeightInit.XAVIER)
                .convolution_mode(ConvolutionMode.Same).list()
                .layer(ConvolutionLayer(name="cnn1", kernel_size=(5, 5), n_out=20,
                                        activation=Activation.RELU))
                .layer(SubsamplingLayer(name="maxpool1", kernel_size=(2, 2), stride=(2, 2)))
                .layer(ConvolutionLayer(name="cnn2", kernel_size=(5, 5), n_out=50,
                                        activation=Activation.RELU))
                .layer(SubsamplingLayer(name="maxpool2", kernel_size=(2, 2), stride=(2, 2)))
                .layer(DenseLayer(name="ffn1", n_out=500, activation=Activation.RELU))
                .layer(OutputLayer(name="output", loss=LossFunction.MCXENT, n_out=self.num_classes,
                                   activation=Activation.SOFTMAX))
                .set_input_type(InputType.convolutional_flat(h, w, c)).build())


@dataclasses.dataclass
class SimpleCNN(ZooModel):
    """DL4J's zoo SimpleCNN (after oarriaga/face_classification), input (3, 48, 48) by default.

    Four blocks of conv - batch norm - conv - batch norm - ReLU - 2x2 average pool - dropout 0.5
    (kernels 7, 5, 3, 3; channels 16, 32, 64, 128), then conv 3x3 (256) - batch norm - conv 3x3
    (``num_classes``) - global average pool - softmax. Same mode throughout, so 48 -> 24 -> 12
    -> 6 -> 3. As in DL4J the network ends in a softmax ActivationLayer, not an output layer: to
    train it, replace the last layer by an OutputLayer or LossLayer (e.g. with TransferLearning).
    """

    num_classes: int = 10
    input_shape: tuple = (3, 48, 48)

    def model_type(self):
        return MultiLayerNetwork

    def conf(self):
        c, h, w = self.input_shape
        builder = (self._defaults(Activation.IDENTITY).weight_init(WeightInit.RELU)
                   .convolution_mode(ConvolutionMode.Same).list())
        for kernel, n_out in ((7, 16), (5, 32), (3, 64), (3, 128)):
            for k in range(2):
                first = n_out == 16 and k == 0  # DL4J names only the first layer
                builder.layer(ConvolutionLayer(name="image_array" if first else None,
                                               kernel_size=(kernel, kernel), n_out=n_out))
                builder.layer(BatchNormalization())
            builder.layer(ActivationLayer(activation=Activation.RELU))
            builder.layer(SubsamplingLayer(pooling_type=PoolingType.AVG, kernel_size=(2, 2)))
            builder.layer(DropoutLayer(dropout=0.5))
        return (builder.layer(ConvolutionLayer(kernel_size=(3, 3), n_out=256))
                .layer(BatchNormalization())
                .layer(ConvolutionLayer(kernel_size=(3, 3), n_out=self.num_classes))
                .layer(GlobalPoolingLayer(pooling_type=PoolingType.AVG))
                .layer(ActivationLayer(activation=Activation.SOFTMAX))
                .set_input_type(InputType.convolutional(h, w, c)).build())
