"""ZeroPaddingLayer (minidl/nn/layers/padding.py): DL4J's builder forms, shapes, the forward
against np.pad on both backends, inside a network (gradients stop at nothing: the interior
passes through), JSON and bad input."""

import numpy as np
import pytest

from minidl import (Activation, ComputationGraph, ConvolutionLayer, InputType, LossFunction,
                    NeuralNetConfiguration, OutputLayer, Sgd, ZeroPaddingLayer, gradcheck)
from minidl import serde

from .helpers import ready, run


@pytest.mark.parametrize("build, expected", [
    (lambda: ZeroPaddingLayer.Builder(3, 3).build(), (3, 3, 3, 3)),        # (vertical, horizontal)
    (lambda: ZeroPaddingLayer.Builder(1, 2).build(), (1, 1, 2, 2)),
    (lambda: ZeroPaddingLayer.Builder(0, 1, 2, 3).build(), (0, 1, 2, 3)),  # top, bottom, left, right
    (lambda: ZeroPaddingLayer.Builder([4, 3, 2, 1]).build(), (4, 3, 2, 1)),  # DL4J's int[]
    (lambda: ZeroPaddingLayer.Builder().padding(2).build(), (2, 2, 2, 2)),
    (lambda: ZeroPaddingLayer(padding=(1, 0)), (1, 1, 0, 0)),
])
def test_dl4j_builder_forms(build, expected):
    assert build().padding == expected


def test_output_type_and_forward_against_np_pad(device):
    layer = ready(ZeroPaddingLayer(padding=(1, 2, 0, 3)), InputType.convolutional(4, 5, 2))
    assert layer.output_type(InputType.convolutional(4, 5, 2)) == InputType.convolutional(7, 8, 2)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 5))
    np.testing.assert_array_equal(run(layer, x, {}).numpy(),
                                  np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 3))))


def _padded_conv_net(first, **conv):
    """in -> first -> 3x3 conv (Truncate) -> output: ``first`` pads or not."""
    builder = (NeuralNetConfiguration.Builder().seed(3).updater(Sgd(0.1)).data_type("float64")
               .graph_builder().add_inputs("in"))
    previous = "in"
    if first is not None:
        builder.add_layer("pad", first, "in")
        previous = "pad"
    return ComputationGraph(
        builder.add_layer("conv", ConvolutionLayer(kernel_size=(3, 3), n_out=2,
                                                   activation=Activation.TANH, **conv), previous)
        .add_layer("out", OutputLayer(loss=LossFunction.MSE, n_out=2,
                                      activation=Activation.IDENTITY), "conv")
        .set_outputs("out").set_input_types(InputType.convolutional(5, 4, 1)).build()).init()


def test_in_a_network_it_is_the_convolution_padding():
    # conv(pad(x)) with padding (1, 1, 2, 2) == conv(x) with padding (1, 2): same parameter
    # shapes, same outputs, same gradients
    padded = _padded_conv_net(ZeroPaddingLayer.Builder(1, 2).build())
    inline = _padded_conv_net(None, padding=(1, 2))
    inline.set_params(padded.params())
    x = np.random.default_rng(1).standard_normal((3, 1, 5, 4))
    y = np.random.default_rng(2).standard_normal((3, 2))
    np.testing.assert_allclose(padded.output_single(x), inline.output_single(x), rtol=1e-12)
    g_padded, _ = padded.compute_gradient_and_score(x, y)
    g_inline, _ = inline.compute_gradient_and_score(x, y)
    for key, value in g_inline.items():
        np.testing.assert_allclose(g_padded[key], value, rtol=1e-10)


def test_gradcheck_through_the_layer(device):
    layer = ready(ZeroPaddingLayer(padding=(0, 1, 2, 0)), InputType.convolutional(3, 2, 2))
    from minidl.nn.layers import Context
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 2))
    assert gradcheck(lambda x: layer.forward(x, {}, Context(train=False, rng=None)), x)


def test_survives_json_and_refuses_bad_padding_and_input():
    layer = ZeroPaddingLayer(name="conv1_pad", padding=(3, 3, 2, 2))
    assert serde.from_json(serde.to_json(layer)) == layer
    with pytest.raises(ValueError, match="padding must be one, two"):
        ZeroPaddingLayer.Builder(1, 2, 3).build()
    with pytest.raises(ValueError, match=r"layer 'conv1_pad' \(ZeroPaddingLayer\): expects "
                                         r"convolutional input"):
        layer.output_type(InputType.feed_forward(4))
    with pytest.raises(ValueError, match=r"layer 'conv1_pad' \(ZeroPaddingLayer\): expected "
                                         r"input \[batch, channels, height, width\], got shape"):
        run(layer, np.zeros((2, 3)), {})
