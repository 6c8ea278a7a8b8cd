"""SubsamplingLayer and GlobalPoolingLayer (minidl/nn/layers/pooling.py) against loops and hand
computations, padding included.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from minidl import ConvolutionMode, GlobalPoolingLayer, InputType, PoolingType, SubsamplingLayer

from .helpers import ready, run

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("kind", [PoolingType.MAX, PoolingType.AVG, PoolingType.SUM,
                                  PoolingType.PNORM])
def test_subsampling_against_a_loop(kind, device):
    layer = ready(SubsamplingLayer(pooling_type=kind, kernel_size=(2, 3), stride=(2, 2),
                                    pnorm=3), InputType.convolutional(6, 7, 2))
    x = RNG.normal(size=(2, 2, 6, 7))
    out = run(layer, x, {}).numpy()
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
    layer = ready(SubsamplingLayer(pooling_type=kind, kernel_size=2, stride=1, padding=1,
                                    convolution_mode=mode,
                                    avg_pool_include_pad_in_divisor=include_pad),
                   InputType.convolutional(3, 3, 1))
    sums, real_pixels = POOL_HAND[mode]
    if kind == PoolingType.SUM:
        expected = sums  # padded zeros add nothing, whatever the flag
    else:
        expected = sums / 4 if include_pad else sums / real_pixels
    np.testing.assert_allclose(run(layer, POOL_INPUT, {}).numpy()[0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("mode, pad", [(ConvolutionMode.Truncate, ((1, 1), (1, 1))),
                                       (ConvolutionMode.Same, ((0, 1), (0, 1)))])
def test_padded_pnorm_pooling_against_a_loop(mode, pad, device):
    """PNORM over the real pixels of each window (padding adds nothing), on signed input."""
    layer = ready(SubsamplingLayer(pooling_type=PoolingType.PNORM, kernel_size=2, stride=1,
                                    padding=1, convolution_mode=mode, pnorm=3),
                   InputType.convolutional(3, 3, 1))
    x = POOL_INPUT - 5.0  # -4 .. 4
    padded = np.pad(x[0, 0], pad)
    size = padded.shape[0] - 1
    expected = [[(np.abs(padded[i:i + 2, j:j + 2]) ** 3).sum() ** (1 / 3) for j in range(size)]
                for i in range(size)]
    np.testing.assert_allclose(run(layer, x, {}).numpy()[0, 0], expected, rtol=1e-12)


def test_average_pooling_leaves_padding_out_of_the_divisor_by_default():
    # DL4J's builders: avgPoolIncludePadInDivisor = false.
    assert SubsamplingLayer().avg_pool_include_pad_in_divisor is False
    assert SubsamplingLayer.Builder(PoolingType.AVG).build().avg_pool_include_pad_in_divisor is False
    assert SubsamplingLayer.Builder().avgPoolIncludePadInDivisor(True).build() \
        .avg_pool_include_pad_in_divisor is True


@pytest.mark.parametrize("kind", ["MAX", "AVG", "SUM", "PNORM"])
def test_global_pooling(kind, device):
    layer = ready(GlobalPoolingLayer(pooling_type=kind, pnorm=3), InputType.convolutional(3, 4, 5))
    x = RNG.normal(size=(2, 5, 3, 4))
    expected = {"MAX": x.max(axis=(2, 3)), "AVG": x.mean(axis=(2, 3)), "SUM": x.sum(axis=(2, 3)),
                "PNORM": (np.abs(x) ** 3).sum(axis=(2, 3)) ** (1 / 3)}[kind]
    np.testing.assert_allclose(run(layer, x, {}).numpy(), expected, rtol=1e-6)
    assert layer.output_type(InputType.convolutional(3, 4, 5)) == InputType.feed_forward(5)
