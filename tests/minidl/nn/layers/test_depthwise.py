"""DepthwiseConvolution2D and SeparableConvolution2D (minidl/nn/layers/depthwise.py): shapes,
parameters, JSON, forward against PyTorch and a loop; and a MobileNetV2 block built from them,
with BatchNormalization's eps, strided Same convolutions and global average pooling, against
PyTorch and by a whole-network gradient check.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from devices import host
from minidl import (Activation, BatchNormalization, ConvolutionLayer, ConvolutionMode,
                    DataSet, DepthwiseConvolution2D, GlobalPoolingLayer, InputType,
                    LossFunction, MultiLayerNetwork, NeuralNetConfiguration, OutputLayer,
                    PoolingType, SeparableConvolution2D, Tensor)
from minidl.backend import to_device
from minidl import serde
from minidl.nn.layers import Context
from minidl.ops.depthwise import to_torch

from .helpers import device_params, host_params, ready, run

RNG = np.random.default_rng(0)


def _depthwise_loop(x, W, stride, pads):
    """y[:, c*m + k] = sum over taps of padded x[:, c] * W[i, j, c, k]; pads (top, bottom, left,
    right)."""
    n, c, h, w = x.shape
    kh, kw, _, m = W.shape
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    y = np.zeros((n, c * m, oh, ow))
    for ci in range(c):
        for k in range(m):
            for i in range(kh):
                for j in range(kw):
                    rows = slice(i, i + stride * (oh - 1) + 1, stride)
                    cols = slice(j, j + stride * (ow - 1) + 1, stride)
                    y[:, ci * m + k] += W[i, j, ci, k] * xp[:, ci, rows, cols]
    return y


# -- DepthwiseConvolution2D ----------------------------------------------------------------------
def test_depthwise_shapes_and_parameters():
    layer = ready(DepthwiseConvolution2D(kernel_size=(3, 2), stride=(2, 1), depth_multiplier=3),
                  InputType.convolutional(9, 8, 4))
    assert layer.n_in == 4 and layer.n_out == 12  # n_out = n_in * depth_multiplier, never set
    assert layer.output_type(InputType.convolutional(9, 8, 4)) == InputType.convolutional(4, 7, 12)
    assert layer.param_shapes() == {"W": (3, 2, 4, 3), "b": (12,)}
    params = layer.init_params(np.random.default_rng(0))
    assert params["W"].shape == (3, 2, 4, 3) and not params["b"].any()
    no_bias = ready(DepthwiseConvolution2D(kernel_size=(3, 3), has_bias=False),
                    InputType.convolutional(5, 5, 2))
    assert no_bias.param_shapes() == {"W": (3, 3, 2, 1)}


def test_depthwise_same_mode_stride_2_halves_an_even_size():
    """MobileNetV2's stride-2 depthwise layers in Keras' "same" padding: 112 -> 56."""
    layer = ready(DepthwiseConvolution2D(kernel_size=(3, 3), stride=(2, 2),
                                         convolution_mode=ConvolutionMode.Same),
                  InputType.convolutional(112, 112, 96))
    assert layer.output_type(InputType.convolutional(112, 112, 96)) == \
        InputType.convolutional(56, 56, 96)


def test_depthwise_builder_in_dl4j_spelling_makes_the_same_layer():
    built = (DepthwiseConvolution2D.Builder(3, 3).stride(2, 2).depthMultiplier(2).nIn(8)
             .convolutionMode(ConvolutionMode.Same).hasBias(False).activation(Activation.RELU6)
             .build())
    direct = DepthwiseConvolution2D(kernel_size=(3, 3), stride=(2, 2), depth_multiplier=2,
                                    n_in=8, convolution_mode="Same", has_bias=False,
                                    activation="relu6")
    assert built == direct and built.n_out == 16


def test_depthwise_json_round_trip():
    layer = ready(DepthwiseConvolution2D(name="dw", kernel_size=(3, 3), depth_multiplier=2,
                                         padding=(1, 1), activation=Activation.RELU6),
                  InputType.convolutional(6, 6, 3))
    back = serde.from_json(serde.to_json(layer))
    assert back == layer and back.param_shapes() == {"W": (3, 3, 3, 2), "b": (6,)}


@pytest.mark.parametrize("m, stride", [(1, 1), (2, 2)])
def test_depthwise_forward_against_a_loop_and_torch(device, m, stride):
    layer = ready(DepthwiseConvolution2D(kernel_size=(3, 3), stride=(stride, stride),
                                         padding=(1, 1), depth_multiplier=m,
                                         activation=Activation.RELU6),
                  InputType.convolutional(7, 6, 3))
    # weights and inputs wide enough for relu6 to clip at both ends
    params = device_params(layer, W=RNG.normal(size=(3, 3, 3, m)), b=RNG.normal(size=3 * m))
    W, b = host_params(params)["W"], host_params(params)["b"]
    x = 2 * RNG.normal(size=(2, 3, 7, 6))
    out = run(layer, x, params).numpy()
    expected = np.clip(_depthwise_loop(x, W, stride, (1, 1, 1, 1)) + b[:, None, None], 0, 6)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert (expected == 6).any() and (expected == 0).any()
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(to_torch(W)),
                                        torch.tensor(b), stride=stride, padding=1, groups=3)
    np.testing.assert_allclose(out, torch.clamp(theirs, 0, 6).numpy(), rtol=1e-10, atol=1e-12)


def test_depthwise_trains_through_swish(device):
    """SWISH's derivative needs its input, so the op applies it after itself: gradients flow."""
    layer = ready(DepthwiseConvolution2D(kernel_size=(3, 3), activation=Activation.SWISH),
                  InputType.convolutional(5, 5, 2))
    params = {k: Tensor(t.data, requires_grad=True) for k, t in device_params(layer).items()}
    x = RNG.normal(size=(1, 2, 5, 5))
    y = run(layer, x, params)
    y.sum().backward()
    W = host_params(params)["W"]
    z = _depthwise_loop(x, W, 1, (0, 0, 0, 0))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(y.numpy(), z * s, rtol=1e-10)
    np.testing.assert_allclose(host(params["b"].grad), (s * (1 + z * (1 - s))).sum(axis=(0, 2, 3)),
                               rtol=1e-10)


def test_depthwise_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"layer 'dw' \(DepthwiseConvolution2D\): n_out must be "
                                         r"n_in \* depth_multiplier = 4 \* 2 = 8, got n_out=5"):
        DepthwiseConvolution2D(name="dw", n_in=4, n_out=5, depth_multiplier=2)
    with pytest.raises(ValueError, match=r"'dw' .*depth_multiplier must be an integer >= 1, got 0"):
        DepthwiseConvolution2D(name="dw", depth_multiplier=0)
    layer = ready(DepthwiseConvolution2D(name="dw", kernel_size=(3, 3)),
                  InputType.convolutional(5, 5, 3))
    with pytest.raises(ValueError, match=r"layer 'dw' \(DepthwiseConvolution2D\): expected 3 input "
                                         r"channels, got input of shape \(1, 2, 5, 5\)"):
        run(layer, np.zeros((1, 2, 5, 5)), device_params(layer))
    with pytest.raises(ValueError, match=r"'dw' .*expects convolutional input"):
        DepthwiseConvolution2D(name="dw").output_type(InputType.feed_forward(3))


# -- SeparableConvolution2D ----------------------------------------------------------------------
def test_separable_shapes_and_dl4j_parameters():
    layer = ready(SeparableConvolution2D(kernel_size=(3, 3), n_out=5, depth_multiplier=2),
                  InputType.convolutional(8, 8, 3))
    assert layer.output_type(InputType.convolutional(8, 8, 3)) == InputType.convolutional(6, 6, 5)
    # DL4J's SeparableConvolutionParamInitializer: W [m, n_in, kh, kw], pW [n_out, n_in*m, 1, 1]
    assert layer.param_shapes() == {"W": (2, 3, 3, 3), "pW": (5, 6, 1, 1), "b": (5,)}
    params = layer.init_params(np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == layer.param_shapes()
    assert layer.param_kind("pW") == "weight"
    back = serde.from_json(serde.to_json(layer))
    assert back == layer
    assert SeparableConvolution2D.Builder(3, 3).nOut(5).depthMultiplier(2).build() == \
        SeparableConvolution2D(kernel_size=(3, 3), n_out=5, depth_multiplier=2)


def test_separable_is_depthwise_then_pointwise(device):
    layer = ready(SeparableConvolution2D(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1),
                                         n_out=4, depth_multiplier=2, activation=Activation.TANH),
                  InputType.convolutional(7, 7, 3))
    params = device_params(layer, b=RNG.normal(size=4))
    p = host_params(params)
    x = RNG.normal(size=(2, 3, 7, 7))
    out = run(layer, x, params).numpy()
    W_dw = p["W"].transpose(2, 3, 1, 0)  # [m, C, kh, kw] -> [kh, kw, C, m]
    mid = _depthwise_loop(x, W_dw, 2, (1, 1, 1, 1))  # [2, 6, 4, 4]
    expected = np.tanh(np.einsum("ncyx,oc->noyx", mid, p["pW"][:, :, 0, 0]) +
                       p["b"][:, None, None])
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    # Keras/torch hold SeparableConv2D as (depthwise, pointwise); DL4J's W maps onto torch's
    # depthwise weight [C*m, 1, kh, kw] as W.transpose(1, 0, 2, 3).reshape(C*m, 1, kh, kw).
    w_dw = torch.tensor(p["W"].transpose(1, 0, 2, 3).reshape(6, 1, 3, 3))
    theirs = F.conv2d(F.conv2d(torch.tensor(x), w_dw, stride=2, padding=1, groups=3),
                      torch.tensor(p["pW"]), torch.tensor(p["b"]))
    np.testing.assert_allclose(out, torch.tanh(theirs).numpy(), rtol=1e-10, atol=1e-12)


def test_separable_trains_through_swish(device):
    layer = ready(SeparableConvolution2D(kernel_size=(3, 3), n_out=2,
                                         activation=Activation.SWISH),
                  InputType.convolutional(4, 4, 2))
    params = {k: Tensor(t.data, requires_grad=True) for k, t in device_params(layer).items()}
    run(layer, RNG.normal(size=(1, 2, 4, 4)), params).sum().backward()
    assert all(host(t.grad).any() for t in params.values())


# -- a MobileNetV2 block: the layers together ---------------------------------------------------
def _mobilenet_block(size=10, seed=4):
    """Keras MobileNetV2's stem and an inverted-residual block, shrunk: Conv1 (3x3 stride 2,
    Same, no bias) -> BN(eps 1e-3, decay 0.999) -> relu6 -> expand 1x1 -> BN -> relu6 ->
    depthwise 3x3 stride 2 Same -> BN -> relu6 -> project 1x1 -> BN -> global average -> softmax."""
    def bn(activation=Activation.IDENTITY):
        return BatchNormalization(eps=1e-3, decay=0.999, activation=activation)

    def conv(n_out, k, stride=1):
        return ConvolutionLayer(kernel_size=(k, k), stride=(stride, stride), n_out=n_out,
                                convolution_mode=ConvolutionMode.Same, has_bias=False,
                                activation=Activation.IDENTITY)
    conf = (NeuralNetConfiguration.Builder().seed(seed).data_type("float64").list()
            .layer(conv(4, 3, stride=2)).layer(bn(Activation.RELU6))
            .layer(conv(12, 1)).layer(bn(Activation.RELU6))
            .layer(DepthwiseConvolution2D(kernel_size=(3, 3), stride=(2, 2), has_bias=False,
                                          convolution_mode=ConvolutionMode.Same,
                                          activation=Activation.IDENTITY))
            .layer(bn(Activation.RELU6))
            .layer(conv(6, 1)).layer(bn())
            .layer(GlobalPoolingLayer(pooling_type=PoolingType.AVG))
            .layer(OutputLayer(n_out=3, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT))
            .set_input_type(InputType.convolutional(size, size, 3)).build())
    net = MultiLayerNetwork(conf).init()
    rng = np.random.default_rng(seed)
    for key, value in net.param_table().items():  # running statistics other than 0 and 1
        if key.endswith("_mean"):
            net.set_param(key, rng.normal(0, 0.3, value.shape))
        elif key.endswith("_var"):
            net.set_param(key, rng.uniform(0.5, 2.0, value.shape))
    return net


def test_batch_norm_eps_is_the_layer_s_own():
    """BatchNormalization(eps=1e-3) normalises with 1e-3, as a hand computation says; at a
    variance of 1e-3 that halves the variance that is divided by (1e-5 would not)."""
    layer = ready(BatchNormalization(eps=1e-3, decay=0.999), InputType.convolutional(2, 2, 1))
    params = device_params(layer, mean=[0.5], var=[1e-3])
    x = np.array([[[[0.5, 0.6], [0.4, 1.5]]]])
    expected = (x - 0.5) / np.sqrt(1e-3 + 1e-3)
    np.testing.assert_allclose(run(layer, x, params).numpy(), expected, rtol=1e-12)
    default = ready(BatchNormalization(), InputType.convolutional(2, 2, 1))
    assert not np.allclose(run(default, x, device_params(default, mean=[0.5], var=[1e-3])).numpy(),
                           expected, rtol=1e-3)
    # decay is the layer's own too: running mean <- decay * mean + (1 - decay) * batch mean
    trained = device_params(layer, mean=[0.5], var=[1.0])
    layer.forward(Tensor(to_device(x)), trained, Context(train=True, rng=None))
    np.testing.assert_allclose(host(trained["mean"].data), [0.999 * 0.5 + 0.001 * x.mean()])


def test_mobilenet_block_matches_torch(device):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = _mobilenet_block()
    x = RNG.normal(size=(2, 3, 10, 10))
    ours = host(net.output(x))
    p = {k: torch.tensor(host(v)) for k, v in net.param_table().items()}

    def bn(t, i, relu6):
        t = F.batch_norm(t, p[f"{i}_mean"], p[f"{i}_var"], p[f"{i}_gamma"], p[f"{i}_beta"],
                         training=False, eps=1e-3)
        return torch.clamp(t, 0, 6) if relu6 else t

    # Keras "same" at stride 2 on an even size pads one row/column at the bottom/right only.
    t = bn(F.conv2d(F.pad(torch.tensor(x), (0, 1, 0, 1)), p["0_W"], stride=2), 1, True)  # 5x5
    t = bn(F.conv2d(t, p["2_W"]), 3, True)
    t = F.conv2d(F.pad(t, (1, 1, 1, 1)), torch.tensor(to_torch(host(net.get_param("4_W")))),
                 stride=2, groups=12)  # odd 5 -> 3: "same" pads 1 on every side
    t = bn(F.conv2d(bn(t, 5, True), p["6_W"]), 7, False)
    logits = t.mean(dim=(2, 3)) @ p["9_W"] + p["9_b"]
    np.testing.assert_allclose(ours, torch.softmax(logits, dim=1).numpy(), rtol=1e-10,
                               atol=1e-12)
    assert ours.shape == (2, 3)


def test_mobilenet_block_gradients(device, helpers):
    net = _mobilenet_block(size=8, seed=5)
    rng = np.random.default_rng(6)
    data = DataSet(rng.normal(size=(3, 3, 8, 8)), np.eye(3)[[0, 2, 1]])
    helpers.assert_network_gradients(net, data, rtol=1e-5, atol=1e-8)
