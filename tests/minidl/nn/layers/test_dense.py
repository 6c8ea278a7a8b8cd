"""Each layer's forward pass against a hand (loop) computation, plus shapes and bad input.

The forward passes run on both backends (``device``): inputs and parameters on the device, the
loop computations on the host.
"""

import numpy as np
import pytest

from devices import host
from minidl import (Activation, ActivationLayer, BatchNormalization, ConvolutionLayer,
                    ConvolutionMode, DenseLayer, DropoutLayer, FrozenLayer,
                    FrozenLayerWithBackprop, GlobalPoolingLayer, InputType, LossFunction,
                    LossLayer, OutputLayer, PoolingType, SubsamplingLayer, Tensor)
from minidl.backend import to_device
from minidl.nn.conf.layers import Context

RNG = np.random.default_rng(0)


def _ready(layer, input_type):
    """A layer as a built configuration has it: defaults filled, n_in inferred."""
    layer.apply_defaults({})
    layer.output_type(input_type)
    return layer


def _params(layer, **values):
    """The layer's parameters as Tensors on the current device; ``values`` replace some."""
    arrays = layer.init_params(np.random.default_rng(1), np.float64)
    arrays.update({k: np.array(v, np.float64) for k, v in values.items()})
    return {k: Tensor(to_device(v)) for k, v in arrays.items()}


def _host(params):
    """NumPy copies of the parameters, for the hand computations."""
    return {k: host(t.data) for k, t in params.items()}


def _run(layer, x, params, train=False, seed=0):
    """The layer's forward on ``x`` (moved to the current device) as a Tensor."""
    return layer.forward(Tensor(to_device(x)), params,
                         Context(train=train, rng=np.random.default_rng(seed)))


def _loss(layer, x, params, y):
    return layer.compute_loss(Tensor(to_device(x)), params, Tensor(to_device(y)),
                              Context(train=False, rng=None))


def test_dense_is_activation_of_x_w_plus_b(device):
    layer = _ready(DenseLayer(n_out=3, activation=Activation.TANH), InputType.feed_forward(4))
    params = _params(layer, b=[0.5, -1.0, 2.0])
    x = RNG.normal(size=(5, 4))
    w, b = _host(params)["W"], _host(params)["b"]
    expected = np.tanh(np.array([[sum(x[n, i] * w[i, j] for i in range(4)) + b[j]
                                  for j in range(3)] for n in range(5)]))
    np.testing.assert_allclose(_run(layer, x, params).numpy(), expected, rtol=1e-12)
    assert layer.param_shapes() == {"W": (4, 3), "b": (3,)}


def test_dense_without_bias_has_no_b():
    layer = _ready(DenseLayer(n_out=3, has_bias=False), InputType.feed_forward(2))
    assert layer.param_shapes() == {"W": (2, 3)}


def test_dense_wrong_input_width_names_the_layer():
    layer = _ready(DenseLayer(name="fc", n_out=3), InputType.feed_forward(4))
    with pytest.raises(ValueError, match=r"layer 'fc' \(DenseLayer\): expected input \[batch, 4\], "
                                         r"got shape \(2, 5\)"):
        _run(layer, np.zeros((2, 5)), _params(layer))
    with pytest.raises(ValueError, match=r"layer 'fc' \(DenseLayer\): expected input \[batch, 4\]"):
        _run(layer, np.zeros((2, 1, 2, 2)), _params(layer))


def test_output_layer_softmax_cross_entropy_loss(device):
    layer = _ready(OutputLayer(n_out=3, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT),
                   InputType.feed_forward(4))
    params = _params(layer)
    x = RNG.normal(size=(6, 4))
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    loss, out = _loss(layer, x, params, y)
    z = x @ _host(params)["W"] + _host(params)["b"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), p, rtol=1e-12)
    # DL4J: sum over outputs, mean over the batch.
    np.testing.assert_allclose(loss.item(), -np.sum(y * np.log(p)) / 6, rtol=1e-12)


def test_output_layer_mse(device):
    layer = _ready(OutputLayer(n_out=2, activation=Activation.IDENTITY, loss=LossFunction.MSE),
                   InputType.feed_forward(3))
    params = _params(layer)
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    loss, out = _loss(layer, x, params, y)
    z = x @ _host(params)["W"] + _host(params)["b"]
    # DL4J's MSE: mean over the outputs of each example, then mean over the batch.
    np.testing.assert_allclose(loss.item(), np.mean(np.mean((z - y) ** 2, axis=1)), rtol=1e-12)


@pytest.mark.parametrize("loss, per_example", [
    (LossFunction.MEAN_ABSOLUTE_ERROR, lambda e: np.mean(np.abs(e), axis=1)),
    (LossFunction.L1, lambda e: np.sum(np.abs(e), axis=1)),  # DL4J: the sum, not the mean
])
def test_output_layer_absolute_error_losses(loss, per_example, device):
    layer = _ready(OutputLayer(n_out=3, activation=Activation.IDENTITY, loss=loss),
                   InputType.feed_forward(2))
    params = _params(layer)
    x, y = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 3))
    z = x @ _host(params)["W"] + _host(params)["b"]
    np.testing.assert_allclose(_loss(layer, x, params, y)[0].item(),
                               np.mean(per_example(z - y)), rtol=1e-12)


def test_labels_with_the_wrong_number_of_classes():
    layer = _ready(OutputLayer(name="out", n_out=3), InputType.feed_forward(2))
    with pytest.raises(ValueError, match=r"layer 'out' \(OutputLayer\): labels of shape \(4, 2\) "
                                         r"do not match the output of shape \(4, 3\) \(3 classes\)"):
        layer.compute_loss(Tensor(np.zeros((4, 2))), _params(layer), Tensor(np.zeros((4, 2))),
                           Context(train=False, rng=None))


def test_loss_layer_has_no_params_and_scores_its_input(device):
    layer = _ready(LossLayer(loss=LossFunction.MSE, activation=Activation.IDENTITY),
                   InputType.feed_forward(3))
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    loss, out = _loss(layer, x, {}, y)
    assert layer.param_shapes() == {} and layer.n_out == 3
    np.testing.assert_allclose(out.numpy(), x)
    np.testing.assert_allclose(loss.item(), np.mean((x - y) ** 2), rtol=1e-12)


def _conv_loop(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (h + 2 * padding[0] - kh) // stride[0] + 1
    ow = (wd + 2 * padding[1] - kw) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    return out


def test_convolution_against_a_loop(device):
    layer = _ready(ConvolutionLayer(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), n_out=4,
                                    activation=Activation.RELU), InputType.convolutional(7, 6, 3))
    params = _params(layer, b=[0.1, -0.2, 0.3, 0.0])
    x = RNG.normal(size=(2, 3, 7, 6))
    expected = np.maximum(_conv_loop(x, _host(params)["W"], _host(params)["b"], (2, 1), (1, 0)), 0)
    out = _run(layer, x, params).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert layer.output_type(InputType.convolutional(7, 6, 3)) == \
        InputType.convolutional(4, 5, 4) and out.shape == (2, 4, 4, 5)
    assert layer.param_shapes() == {"W": (4, 3, 3, 2), "b": (4,)}


def test_convolution_same_mode_keeps_the_size(device):
    layer = _ready(ConvolutionLayer(kernel_size=(3, 3), n_out=2,
                                    convolution_mode=ConvolutionMode.Same),
                   InputType.convolutional(5, 5, 1))
    assert _run(layer, RNG.normal(size=(1, 1, 5, 5)), _params(layer)).shape == (1, 2, 5, 5)


def test_convolution_wrong_channels_names_the_layer():
    layer = _ready(ConvolutionLayer(name="conv1", kernel_size=(3, 3), n_out=2),
                   InputType.convolutional(5, 5, 3))
    with pytest.raises(ValueError, match=r"layer 'conv1' \(ConvolutionLayer\): expected 3 input "
                                         r"channels"):
        _run(layer, np.zeros((1, 1, 5, 5)), _params(layer))
    with pytest.raises(ValueError, match=r"layer 'conv1' \(ConvolutionLayer\): expected input "
                                         r"\[batch, 3, height, width\], got shape \(1, 75\)"):
        _run(layer, np.zeros((1, 75)), _params(layer))


@pytest.mark.parametrize("kind", [PoolingType.MAX, PoolingType.AVG, PoolingType.SUM,
                                  PoolingType.PNORM])
def test_subsampling_against_a_loop(kind, device):
    layer = _ready(SubsamplingLayer(pooling_type=kind, kernel_size=(2, 3), stride=(2, 2),
                                    pnorm=3), InputType.convolutional(6, 7, 2))
    x = RNG.normal(size=(2, 2, 6, 7))
    out = _run(layer, x, {}).numpy()
    reduce = {PoolingType.MAX: np.max, PoolingType.AVG: np.mean, PoolingType.SUM: np.sum,
              PoolingType.PNORM: lambda w: (np.abs(w) ** 3).sum() ** (1 / 3)}[kind]
    expected = np.array([[[[reduce(x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 3])
                            for j in range(3)] for i in range(3)] for c in range(2)]
                         for n in range(2)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert layer.output_type(InputType.convolutional(6, 7, 2)) == InputType.convolutional(3, 3, 2)


# A 3x3 input pooled by a 2x2 kernel, stride 1, padding 1, worked out by hand: each window's
# sum, and how many real (not padded) pixels it covers.
POOL_INPUT = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
POOL_HAND = {
    # Truncate: a one-pixel zero border all round, 4x4 windows.
    ConvolutionMode.Truncate: (np.array([[1, 3, 5, 3], [5, 12, 16, 9],
                                         [11, 24, 28, 15], [7, 15, 17, 9]]),
                               np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])),
    # Same: the padding is computed: one row/column of zeros after the input, 3x3 windows.
    ConvolutionMode.Same: (np.array([[12, 16, 9], [24, 28, 15], [15, 17, 9]]),
                           np.array([[4, 4, 2], [4, 4, 2], [2, 2, 1]])),
}


@pytest.mark.parametrize("mode", list(POOL_HAND))
@pytest.mark.parametrize("kind, include_pad", [(PoolingType.AVG, False), (PoolingType.AVG, True),
                                               (PoolingType.SUM, False), (PoolingType.SUM, True)])
def test_padded_pooling_by_hand(mode, kind, include_pad, device):
    layer = _ready(SubsamplingLayer(pooling_type=kind, kernel_size=2, stride=1, padding=1,
                                    convolution_mode=mode,
                                    avg_pool_include_pad_in_divisor=include_pad),
                   InputType.convolutional(3, 3, 1))
    sums, real_pixels = POOL_HAND[mode]
    if kind == PoolingType.SUM:
        expected = sums  # padded zeros add nothing, whatever the flag
    else:
        expected = sums / 4 if include_pad else sums / real_pixels
    np.testing.assert_allclose(_run(layer, POOL_INPUT, {}).numpy()[0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("mode, pad", [(ConvolutionMode.Truncate, ((1, 1), (1, 1))),
                                       (ConvolutionMode.Same, ((0, 1), (0, 1)))])
def test_padded_pnorm_pooling_against_a_loop(mode, pad, device):
    """PNORM over the real pixels of each window (padding adds nothing), on signed input."""
    layer = _ready(SubsamplingLayer(pooling_type=PoolingType.PNORM, kernel_size=2, stride=1,
                                    padding=1, convolution_mode=mode, pnorm=3),
                   InputType.convolutional(3, 3, 1))
    x = POOL_INPUT - 5.0  # -4 .. 4
    padded = np.pad(x[0, 0], pad)
    size = padded.shape[0] - 1
    expected = [[(np.abs(padded[i:i + 2, j:j + 2]) ** 3).sum() ** (1 / 3) for j in range(size)]
                for i in range(size)]
    np.testing.assert_allclose(_run(layer, x, {}).numpy()[0, 0], expected, rtol=1e-12)


def test_average_pooling_leaves_padding_out_of_the_divisor_by_default():
    # DL4J's builders: avgPoolIncludePadInDivisor = false.
    assert SubsamplingLayer().avg_pool_include_pad_in_divisor is False
    assert SubsamplingLayer.Builder(PoolingType.AVG).build().avg_pool_include_pad_in_divisor is False
    assert SubsamplingLayer.Builder().avgPoolIncludePadInDivisor(True).build() \
        .avg_pool_include_pad_in_divisor is True


@pytest.mark.parametrize("mode, size", [(ConvolutionMode.Truncate, (4, 2)),  # (7+2-3)//2+1, (6-3)//2+1
                                         (ConvolutionMode.Same, (4, 3))])  # ceil(7/2), ceil(6/2)
def test_convolution_and_pooling_windows_have_the_same_output_size(mode, size):
    geometry = dict(kernel_size=3, stride=2, padding=(1, 0), convolution_mode=mode)
    conv = ConvolutionLayer(n_out=4, **geometry)
    pool = SubsamplingLayer(pooling_type=PoolingType.MAX, **geometry)
    assert pool.kernel_size == conv.kernel_size == (3, 3)
    assert conv.output_type(InputType.convolutional(7, 6, 2)) == InputType.convolutional(*size, 4)
    assert pool.output_type(InputType.convolutional(7, 6, 2)) == InputType.convolutional(*size, 2)


@pytest.mark.parametrize("layer", [ConvolutionLayer(name="c", n_out=2),
                                   SubsamplingLayer(name="c"), GlobalPoolingLayer(name="c")])
def test_image_layers_refuse_flat_input_types(layer):
    with pytest.raises(ValueError, match=r"layer 'c' \(\w+\): expects convolutional input "
                                         r"\[batch, channels, height, width\], got InputTypeFeedForward"):
        layer.output_type(InputType.feed_forward(12))


@pytest.mark.parametrize("kind", ["MAX", "AVG", "SUM", "PNORM"])
def test_global_pooling(kind, device):
    layer = _ready(GlobalPoolingLayer(pooling_type=kind, pnorm=3), InputType.convolutional(3, 4, 5))
    x = RNG.normal(size=(2, 5, 3, 4))
    expected = {"MAX": x.max(axis=(2, 3)), "AVG": x.mean(axis=(2, 3)), "SUM": x.sum(axis=(2, 3)),
                "PNORM": (np.abs(x) ** 3).sum(axis=(2, 3)) ** (1 / 3)}[kind]
    np.testing.assert_allclose(_run(layer, x, {}).numpy(), expected, rtol=1e-6)
    assert layer.output_type(InputType.convolutional(3, 4, 5)) == InputType.feed_forward(5)


def test_batch_norm_training_uses_batch_statistics_and_updates_running_ones(device):
    layer = _ready(BatchNormalization(decay=0.8, eps=1e-5), InputType.convolutional(3, 3, 2))
    params = _params(layer, gamma=[2.0, 0.5], beta=[1.0, -1.0])
    x = RNG.normal(2.0, 3.0, size=(4, 2, 3, 3))
    out = _run(layer, x, params, train=True).numpy()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    expected = expected * np.array([2.0, 0.5])[None, :, None, None] + \
        np.array([1.0, -1.0])[None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    np.testing.assert_allclose(params["mean"].numpy(), 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(params["var"].numpy(), 0.8 + 0.2 * var, rtol=1e-12)


def test_batch_norm_inference_uses_running_statistics(device):
    layer = _ready(BatchNormalization(), InputType.feed_forward(3))
    params = _params(layer, mean=[1.0, 2.0, 3.0], var=[4.0, 1.0, 0.25])
    x = RNG.normal(size=(5, 3))
    expected = (x - [1.0, 2.0, 3.0]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(_run(layer, x, params).numpy(), expected, rtol=1e-10)
    assert layer.param_kind("mean") == "state" and layer.param_kind("gamma") == "weight"


def test_activation_layer(device):
    layer = _ready(ActivationLayer(activation=Activation.RELU), InputType.feed_forward(3))
    x = RNG.normal(size=(4, 3))
    np.testing.assert_array_equal(_run(layer, x, {}).numpy(), np.maximum(x, 0))


def test_dropout_layer_is_identity_in_inference_and_inverted_dropout_in_training(device):
    layer = _ready(DropoutLayer(dropout=0.75), InputType.feed_forward(1000))
    x = np.ones((4, 1000))
    np.testing.assert_array_equal(_run(layer, x, {}).numpy(), x)
    out = _run(layer, x, {}, train=True).numpy()
    values = set(np.unique(out).round(12))
    assert values == {0.0, round(1 / 0.75, 12)}  # kept units scaled by 1/p (p = retain prob)
    assert abs((out > 0).mean() - 0.75) < 0.03


def test_frozen_layer_runs_in_inference_mode_without_a_graph(device):
    inner = _ready(DenseLayer(n_out=3, dropout=0.5, activation=Activation.IDENTITY),
                   InputType.feed_forward(4))
    frozen = FrozenLayer(inner)
    params = {k: Tensor(v.data, requires_grad=True) for k, v in _params(inner).items()}
    x = Tensor(to_device(RNG.normal(size=(2, 4))), requires_grad=True)
    out = frozen.forward(x, params, Context(train=True, rng=np.random.default_rng(0)))
    w, b = _host(params)["W"], _host(params)["b"]
    np.testing.assert_allclose(out.numpy(), x.numpy() @ w + b)  # no dropout
    assert out.creator is None and not out.requires_grad
    assert frozen.updater_for("W") is None and frozen.regularization_for("W") == []
    assert frozen.param_shapes() == inner.param_shapes() and frozen.n_out == 3


def test_frozen_layer_with_backprop_passes_the_gradient_through(device):
    inner = _ready(DenseLayer(n_out=3, activation=Activation.IDENTITY), InputType.feed_forward(4))
    frozen = FrozenLayerWithBackprop(inner)
    params = _params(inner)
    x = Tensor(to_device(RNG.normal(size=(2, 4))), requires_grad=True)
    frozen.forward(x, params, Context(train=True, rng=None)).sum().backward()
    np.testing.assert_allclose(host(x.grad), np.tile(_host(params)["W"].sum(axis=1), (2, 1)))


def test_output_layers_cannot_be_frozen_without_backprop():
    with pytest.raises(ValueError, match="Output layers are not allowed to be frozen"):
        FrozenLayer(OutputLayer(name="out", n_in=2, n_out=2))
