"""Half-precision inference (minidl.nn.precision) on the GPU code path.

The truth is the same network's float32 forward on the CPU (itself checked against PyTorch and
Keras elsewhere; its own float32 error, ~1e-6, is a thousandth of float16's). Float16 carries 11
significant bits: the features must agree within 5e-3 of their scale (a few units of float16's
2^-11 rounding, grown over a dozen layers), and must not be bit-identical to float32 (which would
mean that nothing ran in half).
"""

import numpy as np
import pytest

from devices import host
from minidl import DataSet
from minidl.backend import gpu_available, to_device
from transfer import TransferLearningHelper
from tests.transfer.vgg_like import images, vgg_like
from zoo import MobileNetV2, ResNet50

GPU = pytest.mark.parametrize("device", ["gpu-emulated", pytest.param("gpu", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason="no CUDA device")])],
    indirect=True)
TOLERANCE = 5e-3  # of the features' largest magnitude (measured: 1.1e-3 to 1.6e-3)


def _zoo(model, side=32):
    """A zoo model with random weights and batch norms at their initial statistics (the
    identity). Statistics set from data would make a random network chaotic: its float16
    rounding grows block by block (to 10% at ResNet50's end), where a trained network's does
    not."""
    return model(num_classes=4, input_shape=(3, side, side), seed=7).init()


def _x():
    return images(2, 4, seed=3).features


NETWORKS = {  # name -> (network builder, boundary)
    "vgg_like": (vgg_like, "fc2"),  # convolutions, max pools, dense layers
    "resnet50": (lambda: _zoo(ResNet50), "avg_pool"),  # batch norms, residual sums, avg pool
    # depthwise (stride 1, stride 2 after zero padding), ReLU6, a residual sum. (Further on, the
    # untrained network's activations shrink below float16's smallest normal numbers.)
    "mobilenetv2": (lambda: _zoo(MobileNetV2), "block_3_project_BN"),
}


def _features(net, boundary, x, precision):
    helper = TransferLearningHelper(net, boundary)
    return helper.featurize(DataSet(x, np.zeros((len(x), 4), np.float32)),
                            precision=precision).features


@GPU
@pytest.mark.parametrize("name", NETWORKS)
def test_fp16_features_match_float32_within_half_precision(device, name):
    build, boundary = NETWORKS[name]
    x = _x()
    reference = _features(build().to("cpu"), boundary, x, "fp32")
    net = build().to(device)
    got = _features(net, boundary, x, "fp16")
    assert got.dtype == np.float32  # float32 features, whatever the arithmetic
    got = host(got)
    scale = np.abs(reference).max()
    assert scale > 0
    error = np.abs(got - reference).max() / scale
    assert 0 < error < TOLERANCE, error


@GPU
def test_half_copies_are_made_once_and_follow_the_weights(device):
    net = vgg_like()
    helper = TransferLearningHelper(net, "fc2")
    batch = DataSet(_x(), np.zeros((2, 4), np.float32))
    first = host(helper.featurize(batch, precision="fp16").features)
    copies = dict(net._half_copies.entries)
    assert copies and all(t.data.dtype == np.float16 for _, table in copies.values()
                          for t in table.values())
    again = host(helper.featurize(batch, precision="fp16").features)
    np.testing.assert_array_equal(again, first)
    assert all(net._half_copies.entries[k][1] is copies[k][1] for k in copies)  # not recast
    assert all(host(a).dtype == np.float32 for a in net.param_table().values())  # the masters

    net.set_params(net.params() * 2)  # new weights: new copies, new features
    doubled = host(helper.featurize(batch, precision="fp16").features)
    reference = host(helper.featurize(batch).features)
    np.testing.assert_allclose(doubled, reference, rtol=TOLERANCE, atol=TOLERANCE *
                               np.abs(reference).max())
    assert not np.allclose(doubled, first)


@GPU
def test_float16_overflow_is_an_error_naming_the_activation(device):
    net = vgg_like()
    helper = TransferLearningHelper(net, "fc2")
    batch = DataSet(_x(), np.zeros((2, 4), np.float32))
    huge = DataSet(_x() * 1e5, batch.labels)  # past 65504 in the input itself
    with pytest.raises(FloatingPointError, match="input_1: activations not finite in float16"):
        helper.featurize(huge, precision="fp16")
    # Inside: the second convolution's outputs overflow, and its ReLU would turn every NaN
    # that follows into 0: finite, wrong features, had only the result been checked.
    net.set_param("block1_conv2_W", net.get_param("block1_conv2_W") * 3e4)
    with pytest.raises(FloatingPointError, match="block1_conv2: activations not finite"):
        helper.featurize(batch, precision="fp16")
    assert np.isfinite(host(helper.featurize(batch).features)).all()  # float32 copes


def test_fp16_on_the_cpu_is_refused():
    helper = TransferLearningHelper(vgg_like(), "fc2")
    batch = DataSet(_x(), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="'fp16' runs on the GPU only.*on the cpu"):
        helper.featurize(batch, precision="fp16")
    with pytest.raises(ValueError, match="unknown precision 'bf16', expected one of fp32, fp16"):
        helper.featurize(batch, precision="bf16")
