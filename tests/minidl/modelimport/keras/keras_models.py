"""The models the tests write: a Sequential CNN, a Functional model with branches, a model
using every other supported layer, a VGG-like model, and nested ones (``keras_writers``)."""

import numpy as np

from keras_writers import L, Model

RNG = np.random.default_rng(7)


def w(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def bn_weights(n, center=True, scale=True):
    out = ([RNG.uniform(0.5, 1.5, n).astype(np.float32)] if scale else []) + \
        ([w(n, scale=0.1)] if center else [])
    return out + [w(n, scale=0.1), RNG.uniform(0.5, 1.5, n).astype(np.float32)]


def sequential_cnn(name="cnn"):
    return Model("Sequential", name, [(f"{name}_in", (8, 8, 3))], [
        L("conv_a", "Conv2D", dict(filters=4, kernel_size=[3, 3], strides=[1, 1],
                                   padding="same", activation="relu"),
          weights=[w(3, 3, 3, 4), w(4)]),
        L("bn_a", "BatchNormalization", dict(axis=-1, epsilon=1e-3, momentum=0.99),
          weights=bn_weights(4)),
        L("pool_a", "MaxPooling2D", dict(pool_size=[3, 3], strides=[2, 2], padding="same")),
        L("pad_b", "ZeroPadding2D", dict(padding=[[1, 0], [0, 1]])),
        L("conv_b", "Conv2D", dict(filters=5, kernel_size=[3, 3], strides=[2, 2],
                                   padding="valid", use_bias=False, activation="linear"),
          weights=[w(3, 3, 4, 5)]),
        L("flatten", "Flatten"),
        L("fc", "Dense", dict(units=6, activation="relu"), weights=[w(20, 6), w(6)]),
        L("drop", "Dropout", dict(rate=0.5)),
        L("out", "Dense", dict(units=3, activation="softmax"), weights=[w(6, 3), w(3)]),
    ])


def branches():
    """Concatenate, Add, DepthwiseConv2D, SeparableConv2D, ReLU(max_value=6)."""
    return Model("Functional", "branches", [("img", (9, 9, 3))], [
        L("stem", "Conv2D", dict(filters=6, kernel_size=[1, 1], padding="valid",
                                 activation="linear"), ["img"], [w(1, 1, 3, 6), w(6)]),
        L("dw", "DepthwiseConv2D", dict(kernel_size=[3, 3], strides=[2, 2], padding="same",
                                        depth_multiplier=1, activation="linear"),
          ["stem"], [w(3, 3, 6, 1), w(6)]),
        L("dw_relu", "ReLU", dict(max_value=6.0, negative_slope=0.0, threshold=0.0), ["dw"]),
        L("sep", "SeparableConv2D", dict(filters=6, kernel_size=[3, 3], strides=[2, 2],
                                         padding="same", depth_multiplier=2,
                                         activation="relu"),
          ["stem"], [w(3, 3, 6, 2), w(1, 1, 12, 6), w(6)]),
        L("add", "Add", {}, ["dw_relu", "sep"]),
        L("concat", "Concatenate", dict(axis=-1), ["add", "dw_relu"]),
        L("avg", "AveragePooling2D", dict(pool_size=[2, 2], strides=[2, 2], padding="same"),
          ["concat"]),
        L("gap", "GlobalAveragePooling2D", dict(keepdims=False), ["avg"]),
        L("predictions", "Dense", dict(units=4, activation="softmax"), ["gap"],
          [w(12, 4), w(4)]),
    ], ["predictions"])


def every_layer():
    """Two inputs and the remaining layers: Subtract, Multiply, Average, Maximum, Cropping2D,
    LeakyReLU, ELU, Softmax, general ReLU, Rescaling, Normalization, SpatialDropout2D,
    BatchNormalization without center/scale, GlobalMaxPooling2D (keepdims), Reshape,
    dilated and strided convolutions, Activation."""
    return Model("Functional", "every", [("a", (10, 10, 2)), ("b", (10, 10, 2))], [
        L("scale", "Rescaling", dict(scale=[0.5, 2.0], offset=0.1), ["a"]),
        L("norm", "Normalization", dict(axis=-1, mean=[0.2, -0.1], variance=[4.0, 0.25],
                                        invert=False), ["b"]),
        L("sub", "Subtract", {}, ["scale", "norm"]),
        L("mul", "Multiply", {}, ["scale", "norm"]),
        L("avg", "Average", {}, ["sub", "mul"]),
        L("max", "Maximum", {}, ["sub", "mul"]),
        L("crop", "Cropping2D", dict(cropping=[[1, 0], [2, 1]]), ["avg"]),
        L("crop2", "Cropping2D", dict(cropping=[[1, 0], [2, 1]]), ["max"]),
        L("cat", "Concatenate", dict(axis=3), ["crop", "crop2"]),
        L("dil", "Conv2D", dict(filters=4, kernel_size=[3, 3], dilation_rate=[2, 2],
                                padding="same", activation="tanh"), ["cat"],
          [w(3, 3, 4, 4), w(4)]),
        L("leaky", "LeakyReLU", dict(negative_slope=0.2), ["dil"]),
        L("bn_c", "BatchNormalization", dict(center=False), ["leaky"], bn_weights(4, False)),
        L("bn_s", "BatchNormalization", dict(scale=False), ["bn_c"], bn_weights(4, True, False)),
        L("elu", "ELU", dict(alpha=0.7), ["bn_s"]),
        L("sdrop", "SpatialDropout2D", dict(rate=0.3), ["elu"]),
        L("relu_t", "ReLU", dict(max_value=1.5, negative_slope=0.1, threshold=0.2), ["sdrop"]),
        L("strided", "Conv2D", dict(filters=3, kernel_size=[2, 2], strides=[2, 3],
                                    padding="valid", activation="sigmoid"), ["relu_t"],
          [w(3, 3, 4, 3)[:2, :2], w(3)]),
        L("gmp", "GlobalMaxPooling2D", dict(keepdims=True), ["strided"]),
        L("point", "Conv2D", dict(filters=5, kernel_size=[1, 1], activation="linear"), ["gmp"],
          [w(1, 1, 3, 5), w(5)]),
        L("vector", "Reshape", dict(target_shape=[5]), ["point"]),
        L("act", "Activation", dict(activation="swish"), ["vector"]),
        L("soft", "Softmax", dict(axis=-1), ["act"]),
    ], ["soft", "elu"])


def vgg_like(n_classes=3):
    return Model("Functional", "vgg", [("input_1", (8, 8, 3))], [
        L("block1_conv1", "Conv2D", dict(filters=4, kernel_size=[3, 3], padding="same",
                                         activation="relu"), ["input_1"], [w(3, 3, 3, 4), w(4)]),
        L("block1_conv2", "Conv2D", dict(filters=4, kernel_size=[3, 3], padding="same",
                                         activation="relu"), ["block1_conv1"],
          [w(3, 3, 4, 4), w(4)]),
        L("block1_pool", "MaxPooling2D", dict(pool_size=[2, 2], strides=[2, 2]),
          ["block1_conv2"]),
        L("flatten", "Flatten", {}, ["block1_pool"]),
        L("fc1", "Dense", dict(units=8, activation="relu"), ["flatten"], [w(64, 8), w(8)]),
        L("fc2", "Dense", dict(units=8, activation="relu"), ["fc1"], [w(8, 8), w(8)]),
        L("predictions", "Dense", dict(units=n_classes, activation="softmax"), ["fc2"],
          [w(8, n_classes), w(n_classes)]),
    ], ["predictions"])


def nested_transfer_model():
    """A transfer model as Keras users build it: a Sequential backbone used as one layer in a
    Functional model, and a Functional (the branches model) nested in it too; both inner
    models have a layer named "conv_a"/"stem"... made to collide on "head"."""
    backbone = sequential_cnn("backbone")
    backbone.layers = backbone.layers[:-3] + [L("head", "Dense", dict(units=6, activation="relu"),
                                                weights=[w(20, 6), w(6)])]
    return Model("Functional", "transfer", [("image", (8, 8, 3))], [
        L("backbone", "model", backbone, ["image"]),
        L("head", "Dense", dict(units=2, activation="softmax"), ["backbone"], [w(6, 2), w(2)]),
    ], ["head"])
