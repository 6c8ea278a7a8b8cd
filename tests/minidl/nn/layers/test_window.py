"""What convolution and pooling layers share (minidl/nn/layers/window.py and base.py): one output
size for one window geometry, and feature maps only."""

import pytest

from minidl import (ConvolutionLayer, ConvolutionMode, GlobalPoolingLayer, InputType, PoolingType,
                    SubsamplingLayer)


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
