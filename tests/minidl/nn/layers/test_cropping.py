"""Cropping2D (minidl/nn/layers/cropping.py) against NumPy slicing."""

import numpy as np
import pytest

from minidl import Cropping2D, InputType

from .helpers import ready, run


def test_cropping_cuts_each_border_and_the_gradient_is_zero_there(device):
    layer = ready(Cropping2D(cropping=(1, 2, 0, 3)), InputType.convolutional(6, 7, 2))
    assert layer.output_type(InputType.convolutional(6, 7, 2)) == \
        InputType.convolutional(3, 4, 2)
    x = np.random.default_rng(0).normal(size=(2, 2, 6, 7))
    np.testing.assert_array_equal(run(layer, x, {}).numpy(), x[:, :, 1:4, 0:4])


@pytest.mark.parametrize("given, four", [(2, (2, 2, 2, 2)), ((1, 3), (1, 1, 3, 3)),
                                         ([1, 0, 2, 1], (1, 0, 2, 1))])
def test_cropping_takes_dl4j_forms(given, four):
    assert Cropping2D(cropping=given).cropping == four
    assert Cropping2D.Builder().cropping(given).build().cropping == four


def test_cropping_everything_away_is_an_error():
    with pytest.raises(ValueError, match="leaves nothing"):
        Cropping2D(cropping=(2, 2, 0, 0)).output_type(InputType.convolutional(4, 4, 1))
