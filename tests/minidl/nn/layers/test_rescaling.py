"""RescalingLayer (minidl/nn/layers/rescaling.py): x * scale + offset, scalars or per channel."""

import numpy as np
import pytest

from minidl import InputType, RescalingLayer, gradcheck
from minidl.nn.layers import Context

from .helpers import ready, run


def test_per_channel_scale_and_offset_on_a_feature_map(device):
    layer = ready(RescalingLayer(scale=[0.5, 2.0, -1.0], offset=0.25),
                  InputType.convolutional(2, 2, 3))
    x = np.random.default_rng(0).normal(size=(2, 3, 2, 2))
    expected = x * np.array([0.5, 2.0, -1.0])[None, :, None, None] + 0.25
    np.testing.assert_allclose(run(layer, x, {}).numpy(), expected)


def test_scalar_on_features_and_its_gradient():
    layer = RescalingLayer(scale=1 / 127.5, offset=-1.0)
    x = np.random.default_rng(1).normal(size=(3, 4))
    assert gradcheck(lambda t: layer.forward(t, {}, Context(train=False, rng=None)), x)


def test_a_list_of_the_wrong_length_names_the_layer():
    with pytest.raises(ValueError, match="'norm'.*2 scale values for 3 channels"):
        RescalingLayer(name="norm", scale=[1.0, 2.0]).output_type(
            InputType.convolutional(2, 2, 3))
