"""ResNet50: residual bottleneck blocks, as Keras' ``applications.ResNet50`` builds them.

The architecture (reference/modern-cnns.md §1.1), at a 224x224 input:

    conv1_pad (zero padding 3) - conv1_conv (7x7/2, 64) - conv1_bn - conv1_relu    112x112x64
    pool1_pad (zero padding 1) - pool1_pool (3x3/2 max)                             56x56x64
    conv2: 3 blocks of 64 (out 256), stride 1                                       56x56x256
    conv3: 4 blocks of 128 (out 512), stride 2                                      28x28x512
    conv4: 6 blocks of 256 (out 1024), stride 2                                     14x14x1024
    conv5: 3 blocks of 512 (out 2048), stride 2                                     7x7x2048
    avg_pool (global average) - predictions (dense, softmax)                        1000

Block ``conv{S}_block{B}`` on input x, with f filters:

    main:      _1_conv (1x1, f, the stage's stride) - _1_bn - _1_relu
               _2_conv (3x3 same, f) - _2_bn - _2_relu - _3_conv (1x1, 4f) - _3_bn
    shortcut:  block 1: _0_conv (1x1, 4f, the stage's stride) - _0_bn; later blocks: x itself
    _add (shortcut + main) - _out (ReLU)

This is ResNet "v1" as in the original Caffe model: the stride sits on the first 1x1 conv, every
conv has a bias, and batch norm uses epsilon 1.001e-5. torchvision's ResNet-50 is "v1.5", the
stride on the 3x3 conv and no conv biases: a different network, built from ``Variant``
``TORCHVISION`` for its weights (``zoo.resnet_weights`` reads both files). The vertex names
are Keras' layer names, so the ImageNet weights load by name and ``set_feature_extractor``
takes the names Keras users know. Global average pooling makes every input size >= 32 work,
with or without the top.
"""

import dataclasses

from minidl.learning.updaters import RmsProp
from minidl.nn.conf import (Activation, ActivationLayer, BatchNormalization, ConvolutionLayer,
                            ConvolutionMode, ElementWiseVertex, LossFunction, OutputLayer,
                            PoolingType, SubsamplingLayer, ZeroPaddingLayer)
from minidl.nn.conf.weight_init import WeightInit
from zoo.applications import INPUT, KerasApplication
from zoo.models import PretrainedType

# (stage, bottleneck filters, blocks, stride of the first block); blocks output 4x the filters
STAGES = ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2))
EXPANSION = 4

# Layer names of the *older* Keras ResNet50 (keras_applications/resnet50.py), whose weight files
# have the same names as the current ones but other layer names and batch-norm epsilon 1e-3.
OLD_KERAS_LAYERS = ("conv1", "bn_conv1", "res2a_branch2a", "bn2a_branch2a", "fc1000")


@dataclasses.dataclass(frozen=True)
class Variant:
    """What tells ResNet50 v1 (Keras, after the Caffe model) from v1.5 (torchvision): where a
    stage's stride sits, whether convolutions have biases, and the batch norms' epsilon and
    decay (DL4J's decay = Keras' momentum = 1 - torch's momentum). Same topology otherwise."""

    architecture: str  # the name the converted weights' metadata records
    stride_on_3x3: bool
    conv_bias: bool
    bn_eps: float
    bn_decay: float


KERAS = Variant("resnet50", stride_on_3x3=False, conv_bias=True, bn_eps=1.001e-5, bn_decay=0.99)
TORCHVISION = Variant("resnet50_v1.5", stride_on_3x3=True, conv_bias=False, bn_eps=1e-5,
                      bn_decay=0.9)
VARIANTS = {v.architecture: v for v in (KERAS, TORCHVISION)}


def _conv(variant, n_out, kernel, stride=1):
    # A 3x3 conv pads 1 on every side (Keras' "same" at stride 1, torchvision's padding=1 at
    # any stride); the 1x1 convs need none; the stem pads with its own ZeroPaddingLayers.
    pad = (kernel // 2,) * 2 if kernel == 3 else (0, 0)
    return ConvolutionLayer(kernel_size=(kernel, kernel), stride=(stride, stride), padding=pad,
                            n_out=n_out, has_bias=variant.conv_bias,
                            convolution_mode=ConvolutionMode.Truncate,
                            activation=Activation.IDENTITY)


def _relu():
    return ActivationLayer(activation=Activation.RELU)


def _conv_bn(builder, variant, name, n_out, kernel, stride, x):
    """``{name}_conv`` then ``{name}_bn``; returns the batch norm's name."""
    builder.add_layer(f"{name}_conv", _conv(variant, n_out, kernel, stride), x)
    builder.add_layer(f"{name}_bn", BatchNormalization(eps=variant.bn_eps,
                                                       decay=variant.bn_decay), f"{name}_conv")
    return f"{name}_bn"


def add_stem(builder, variant, x):
    """conv1_pad ... pool1_pool after ``x``; returns "pool1_pool"."""
    builder.add_layer("conv1_pad", ZeroPaddingLayer(padding=3), x)
    _conv_bn(builder, variant, "conv1", 64, 7, 2, "conv1_pad")
    builder.add_layer("conv1_relu", _relu(), "conv1_bn")
    # Zero padding before a max pool is -inf padding here: its input is a ReLU's, >= 0.
    builder.add_layer("pool1_pad", ZeroPaddingLayer(padding=1), "conv1_relu")
    builder.add_layer("pool1_pool", SubsamplingLayer(pooling_type=PoolingType.MAX,
                                                     kernel_size=(3, 3), stride=(2, 2)),
                      "pool1_pad")
    return "pool1_pool"


def add_block(builder, variant, prefix, x, filters, stride, projection):
    """The bottleneck block ``prefix`` (e.g. "conv3_block1") after ``x``; returns
    "{prefix}_out". ``projection``: a 1x1 conv shortcut (each stage's first block)."""
    shortcut = _conv_bn(builder, variant, f"{prefix}_0", EXPANSION * filters, 1, stride, x) \
        if projection else x
    stride_1x1, stride_3x3 = (1, stride) if variant.stride_on_3x3 else (stride, 1)
    main = _conv_bn(builder, variant, f"{prefix}_1", filters, 1, stride_1x1, x)
    builder.add_layer(f"{prefix}_1_relu", _relu(), main)
    main = _conv_bn(builder, variant, f"{prefix}_2", filters, 3, stride_3x3, f"{prefix}_1_relu")
    builder.add_layer(f"{prefix}_2_relu", _relu(), main)
    main = _conv_bn(builder, variant, f"{prefix}_3", EXPANSION * filters, 1, 1,
                    f"{prefix}_2_relu")
    builder.add_vertex(f"{prefix}_add", ElementWiseVertex(ElementWiseVertex.Op.Add), shortcut, main)
    builder.add_layer(f"{prefix}_out", _relu(), f"{prefix}_add")
    return f"{prefix}_out"


def add_backbone(builder, x, variant=KERAS):
    """The stem and the four stages after ``x``; returns "conv5_block3_out"."""
    x = add_stem(builder, variant, x)
    for stage, filters, blocks, stride in STAGES:
        for block in range(1, blocks + 1):
            x = add_block(builder, variant, f"conv{stage}_block{block}", x, filters,
                          stride if block == 1 else 1, projection=block == 1)
    return x


@dataclasses.dataclass
class ResNet50(KerasApplication):
    """ResNet50 (He et al. 2015), Keras' layout and ImageNet weights; input [batch, 3, h, w].

    ``init()``: the architecture with random weights and an OutputLayer ``predictions``
    (negative log-likelihood, softmax, ``num_classes``) on ``avg_pool``, with DL4J's zoo
    settings RmsProp(0.1, 0.96, 0.001), l1 1e-7, l2 5e-5. Two differences from DL4J's
    ResNet50: its weights come from a truncated normal of std 0.5, whose activations overflow
    float32 before the first training step (batch norm's running statistics start at mean 0,
    variance 1), so ``weight_init`` defaults to WeightInit.RELU (He) here; and DL4J's graph
    names its vertices otherwise (``res2a_branch2a``...), puts a stride on stage 2 and ends in
    a 3x3 max pool, while here init() and init_pretrained() are one network, so the same vertex
    names serve both.
    ``init_pretrained()``: Keras' ImageNet weights (BGR, minus the VGG mean: ``pre_processor``
    is a VGG16ImagePreProcessor), ``predictions`` a softmax DenseLayer as in Keras; without the
    top it ends at ``conv5_block3_out`` [batch, 2048, h/32, w/32]. ``weights=`` also takes a
    torchvision ResNet-50 ``.pth``: that is v1.5 (``TORCHVISION``), built with its own stride
    placement, no conv biases and its epsilon, under the same vertex names, and it wants RGB
    images normalised by torchvision's mean and std (its ``pre_processor`` does that).
    """

    weight_init: object = WeightInit.RELU  # a WeightInit or a Distribution (DL4J's weightInit)

    architecture = "resnet50"
    pretrained = {PretrainedType.IMAGENET: "resnet50"}
    pooling_vertex = "avg_pool"
    variants = VARIANTS

    def conf(self):
        """init()'s network: the backbone, avg_pool and an OutputLayer of ``num_classes``."""
        defaults = (self._defaults(Activation.IDENTITY).updater(self.updater or RmsProp(
            0.1, 0.96, 0.001)).weight_init(self.weight_init).l1(1e-7).l2(5e-5))
        head = OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=self.num_classes,
                           activation=Activation.SOFTMAX)
        return self._graph(defaults, head)

    def add_backbone(self, builder, variant):
        return add_backbone(builder, INPUT, variant)
