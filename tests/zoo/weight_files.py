"""Tiny VGG-shaped weight files in Keras and torchvision layouts, written by the tests themselves."""

import numpy as np
import pytest

# block1: two 3x3 convs 3->4->4, 2x2 pool; 4x4 input -> a 2x2x4 map -> fc1 16->6 -> fc2 -> 3 classes
KERAS_LAYERS = [("block1_conv1", (3, 3, 3, 4)), ("block1_conv2", (3, 3, 4, 4)), ("block1_pool", None),
                ("flatten", None), ("fc1", (16, 6)), ("fc2", (6, 6)), ("predictions", (6, 3))]


def keras_arrays(seed=0, layers=KERAS_LAYERS):
    rng = np.random.default_rng(seed)
    return {name: [rng.standard_normal(shape).astype(np.float32),
                   rng.standard_normal(shape[-1]).astype(np.float32)]
            for name, shape in layers if shape is not None}


# Keras' names of a layer's weights, by how many it has: a Conv2D without bias, Conv2D /
# Dense, BatchNormalization; a DepthwiseConv2D's kernel is "depthwise_kernel"
NESTED_NAMES = {1: ("kernel",), 2: ("kernel", "bias"),
                4: ("gamma", "beta", "moving_mean", "moving_variance")}


def _weight_name(layer, index, count, style):
    if style == "flat":
        return f"{layer}_{('W', 'b')[index] if count == 2 else index}_1:0"
    weight = NESTED_NAMES[count][index]
    if layer.endswith("depthwise") and weight == "kernel":
        weight = "depthwise_kernel"
    nested = f"{layer}/{weight}"
    return nested + (":0" if style == "nested" else "")


def write_keras_h5(path, arrays, layer_names, style="flat", chunk_names=False):
    """A legacy Keras weight file: 'flat' = 2016 names (fc1_W_1:0), 'nested' = Keras 2
    (fc1/kernel:0), 'keras3' = Keras 3's legacy writer (fc1/kernel)."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        encoded = [n.encode() for n in layer_names]
        if chunk_names:
            half = len(encoded) // 2
            f.attrs["layer_names0"], f.attrs["layer_names1"] = encoded[:half], encoded[half:]
        else:
            f.attrs["layer_names"] = encoded
        for name in layer_names:
            group = f.create_group(name)
            weight_names = []
            values = arrays.get(name, [])
            for index, value in enumerate(values):
                weight_name = _weight_name(name, index, len(values), style)
                group.create_dataset(weight_name, data=value)
                weight_names.append(weight_name.encode())
            group.attrs["weight_names"] = weight_names
    return path
