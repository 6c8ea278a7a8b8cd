"""MobileNetV2 (alpha 1.0): inverted residual blocks, as Keras' ``applications.MobileNetV2``
builds them.

The architecture (reference/modern-cnns.md §2.1, §2.2), at a 224x224 input:

    Conv1 (3x3/2, 32) - bn_Conv1 - Conv1_relu (ReLU6)                          112x112x32
    expanded_conv_: depthwise 3x3 - BN - ReLU6 - project 1x1 (16) - BN          112x112x16
    block_1 ... block_16 (t = 6), see BLOCKS                                    7x7x320
    Conv_1 (1x1, 1280) - Conv_1_bn - out_relu (ReLU6)                           7x7x1280
    global_average_pooling2d - predictions (dense, softmax)                     1000

Block ``block_{k}_`` on x with n_in channels, expanded to e = 6 * n_in:

    expand (1x1, e) - expand_BN - expand_relu
    [pad (zero padding), only at stride 2] - depthwise (3x3, the stride) - depthwise_BN
    - depthwise_relu - project (1x1, c; linear) - project_BN - [add (x + ...), when stride 1
    and n_in == c]

No convolution has a bias; every ReLU is ReLU6. The two weight sets differ in two ways
(``Variant``): Keras (TF-trained) pads a stride-2 3x3 "same" the TF way, the odd pixel at the
bottom/right (0 before, 1 after at even sizes: Keras' ``correct_pad``), and uses batch-norm
epsilon 1e-3; torchvision pads 1 on every side and uses epsilon 1e-5 (§2.3). At 224 the two
paddings give different numbers, so each weight set runs with its own. The vertex names are
Keras' layer names in both, so the weights load by name and ``set_feature_extractor`` takes the
names Keras users know. The paddings are computed from ``input_shape`` when the graph is built
(as Keras does from its static input shape); global average pooling makes every input size
>= 32 work, with or without the top.
"""

import dataclasses

from minidl.nn.conf import (Activation, ActivationLayer, BatchNormalization, ConvolutionLayer,
                            ConvolutionMode, DepthwiseConvolution2D, ElementWiseVertex,
                            LossFunction, OutputLayer, ZeroPaddingLayer)
from minidl.nn.conf.weight_init import WeightInit
from zoo.applications import INPUT, KerasApplication
from zoo.models import PretrainedType

# (expansion t, out channels c, repeats n, stride s of the first): the 17 blocks, in order
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


@dataclasses.dataclass(frozen=True)
class Variant:
    """What tells Keras' MobileNetV2 weights from torchvision's: the padding of the stride-2
    3x3 layers, and the batch norms' epsilon and decay (DL4J's decay = Keras' momentum = 1 -
    torch's momentum). Same topology and vertex names otherwise."""

    architecture: str  # the name the converted weights' metadata records
    tf_padding: bool  # TF "same": the odd pixel after (Keras); else 1 on every side (torch)
    bn_eps: float
    bn_decay: float

    def stride2_padding(self, h, w):
        """(top, bottom, left, right) zeros before a 3x3 stride-2 window on an h x w map."""
        if self.tf_padding:  # correct_pad: 1 after; 1 before too only at odd sizes
            return h % 2, 1, w % 2, 1
        return 1, 1, 1, 1


KERAS = Variant("mobilenetv2", tf_padding=True, bn_eps=1e-3, bn_decay=0.999)
TORCHVISION = Variant("mobilenetv2_torchvision", tf_padding=False, bn_eps=1e-5, bn_decay=0.9)
VARIANTS = {v.architecture: v for v in (KERAS, TORCHVISION)}


def _relu6():
    return ActivationLayer(activation=Activation.RELU6)


def _pointwise(n_out):
    return ConvolutionLayer(kernel_size=(1, 1), n_out=n_out, has_bias=False,
                            convolution_mode=ConvolutionMode.Truncate,
                            activation=Activation.IDENTITY)


def _depthwise(stride):
    # stride 1: "same" (1 on every side in both frameworks); stride 2: the padding is the
    # block's own ZeroPaddingLayer before it, and the window is "valid"
    return DepthwiseConvolution2D(kernel_size=(3, 3), stride=(stride, stride),
                                  padding=(1, 1) if stride == 1 else (0, 0), has_bias=False,
                                  convolution_mode=ConvolutionMode.Truncate,
                                  activation=Activation.IDENTITY)


class _Builder:
    """A graph builder that knows the spatial size of the map it has reached (the stride-2
    paddings depend on it) and the variant's batch-norm settings."""

    def __init__(self, builder, variant, h, w):
        self.builder, self.variant, self.h, self.w = builder, variant, h, w

    def layer(self, name, layer, x):
        self.builder.add_layer(name, layer, x)
        return name

    def bn(self, name, x):
        return self.layer(name, BatchNormalization(eps=self.variant.bn_eps,
                                                   decay=self.variant.bn_decay), x)

    def stem(self, x):
        """Conv1 - bn_Conv1 - Conv1_relu after the input ``x``; returns "Conv1_relu"."""
        if self.variant.tf_padding:  # Keras' padding "same" at stride 2 is TF's: Same mode
            mode, pad = ConvolutionMode.Same, (0, 0)
        else:
            mode, pad = ConvolutionMode.Truncate, (1, 1)
        x = self.layer("Conv1", ConvolutionLayer(
            kernel_size=(3, 3), stride=(2, 2), padding=pad, n_out=STEM_CHANNELS, has_bias=False,
            convolution_mode=mode, activation=Activation.IDENTITY), x)
        self.h, self.w = -(-self.h // 2), -(-self.w // 2)
        return self.layer("Conv1_relu", _relu6(), self.bn("bn_Conv1", x))

    def block(self, prefix, x, n_in, expansion, n_out, stride):
        """The inverted residual block ``prefix`` ("expanded_conv_", "block_3_") after ``x``
        (n_in channels); returns the name of its last vertex."""
        main = x
        if expansion != 1:
            main = self.layer(f"{prefix}expand", _pointwise(expansion * n_in), main)
            main = self.layer(f"{prefix}expand_relu", _relu6(), self.bn(f"{prefix}expand_BN",
                                                                        main))
        if stride == 2:
            padding = self.variant.stride2_padding(self.h, self.w)
            main = self.layer(f"{prefix}pad", ZeroPaddingLayer(padding=padding), main)
            top, bottom, left, right = padding
            # a valid 3x3 window at stride 2 on the padded map
            self.h, self.w = (self.h + top + bottom - 1) // 2, (self.w + left + right - 1) // 2
        main = self.layer(f"{prefix}depthwise", _depthwise(stride), main)
        main = self.layer(f"{prefix}depthwise_relu", _relu6(),
                          self.bn(f"{prefix}depthwise_BN", main))
        main = self.bn(f"{prefix}project_BN", self.layer(f"{prefix}project", _pointwise(n_out),
                                                         main))
        if stride == 1 and n_in == n_out:
            self.builder.add_vertex(f"{prefix}add", ElementWiseVertex(ElementWiseVertex.Op.Add),
                                    x, main)
            return f"{prefix}add"
        return main

    def head(self, x):
        """Conv_1 - Conv_1_bn - out_relu; returns "out_relu"."""
        x = self.bn("Conv_1_bn", self.layer("Conv_1", _pointwise(LAST_CHANNELS), x))
        return self.layer("out_relu", _relu6(), x)


def block_specs():
    """(prefix, n_in, expansion, n_out, stride) of the 17 blocks: Keras' block_id 0 is
    "expanded_conv_", block_id k > 0 is "block_{k}_"."""
    n_in, block_id = STEM_CHANNELS, 0
    for expansion, n_out, repeats, stride in BLOCKS:
        for r in range(repeats):
            prefix = "expanded_conv_" if block_id == 0 else f"block_{block_id}_"
            yield prefix, n_in, expansion, n_out, stride if r == 0 else 1
            n_in, block_id = n_out, block_id + 1


def add_backbone(builder, x, h, w, variant=KERAS):
    """Conv1 ... out_relu after ``x`` (an h x w input); returns "out_relu"."""
    b = _Builder(builder, variant, h, w)
    x = b.stem(x)
    for spec in block_specs():
        x = b.block(spec[0], x, *spec[1:])
    return b.head(x)


@dataclasses.dataclass
class MobileNetV2(KerasApplication):
    """MobileNetV2 (Sandler et al. 2018), alpha 1.0, Keras' layout and ImageNet weights; input
    [batch, 3, h, w].

    ``init()``: the architecture with random weights (He init) and an OutputLayer
    ``predictions`` (negative log-likelihood, softmax, ``num_classes``) on
    ``global_average_pooling2d``. DL4J's zoo has no MobileNetV2; the updater defaults to the
    zoo's Nesterovs unless ``updater`` is set.
    ``init_pretrained()``: Keras' ImageNet weights (RGB scaled to [-1, 1], Keras' "tf" mode:
    ``pre_processor`` subtracts 127.5 and divides by 127.5), ``predictions`` a softmax
    DenseLayer as in Keras; without the top it ends at ``out_relu`` [batch, 1280, h/32, w/32].
    ``weights=`` also takes torchvision's ``mobilenet_v2-b0353104.pth``: built with its own
    padding and epsilon (``TORCHVISION``) under the same vertex names, and it wants RGB images
    normalised by torchvision's mean and std (its ``pre_processor`` does that).
    """

    weight_init: object = WeightInit.RELU  # a WeightInit or a Distribution (DL4J's weightInit)

    architecture = "mobilenetv2"
    pretrained = {PretrainedType.IMAGENET: "mobilenetv2"}
    pooling_vertex = "global_average_pooling2d"  # Keras names no pooling layer: a fresh process calls it this
    variants = VARIANTS

    def conf(self):
        """init()'s network: the backbone, global average pooling, an OutputLayer of
        ``num_classes``."""
        defaults = self._defaults(Activation.IDENTITY).weight_init(self.weight_init)
        head = OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=self.num_classes,
                           activation=Activation.SOFTMAX)
        return self._graph(defaults, head)

    def add_backbone(self, builder, variant):
        _, h, w = self.input_shape  # Keras' padding before a stride-2 layer depends on the size
        return add_backbone(builder, INPUT, h, w, variant)
