"""OutputLayer and LossLayer (minidl/nn/layers/output.py): each loss against its formula, and
labels that do not fit.

The forward passes run on both backends (``device``); the expected values are computed on the
host.
"""

import numpy as np
import pytest

from minidl import Activation, InputType, LossFunction, LossLayer, OutputLayer, Tensor
from minidl.nn.layers import Context

from .helpers import device_params, host_params, ready, run_loss

RNG = np.random.default_rng(0)


def test_output_layer_softmax_cross_entropy_loss(device):
    layer = ready(OutputLayer(n_out=3, activation=Activation.SOFTMAX, loss=LossFunction.MCXENT),
                   InputType.feed_forward(4))
    params = device_params(layer)
    x = RNG.normal(size=(6, 4))
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    loss, out = run_loss(layer, x, params, y)
    z = x @ host_params(params)["W"] + host_params(params)["b"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), p, rtol=1e-12)
    # DL4J: sum over outputs, mean over the batch.
    np.testing.assert_allclose(loss.item(), -np.sum(y * np.log(p)) / 6, rtol=1e-12)


def test_output_layer_mse(device):
    layer = ready(OutputLayer(n_out=2, activation=Activation.IDENTITY, loss=LossFunction.MSE),
                   InputType.feed_forward(3))
    params = device_params(layer)
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    loss, out = run_loss(layer, x, params, y)
    z = x @ host_params(params)["W"] + host_params(params)["b"]
    # DL4J's MSE: mean over the outputs of each example, then mean over the batch.
    np.testing.assert_allclose(loss.item(), np.mean(np.mean((z - y) ** 2, axis=1)), rtol=1e-12)


@pytest.mark.parametrize("loss, per_example", [
    (LossFunction.MEAN_ABSOLUTE_ERROR, lambda e: np.mean(np.abs(e), axis=1)),
    (LossFunction.L1, lambda e: np.sum(np.abs(e), axis=1)),  # DL4J: the sum, not the mean
])
def test_output_layer_absolute_error_losses(loss, per_example, device):
    layer = ready(OutputLayer(n_out=3, activation=Activation.IDENTITY, loss=loss),
                   InputType.feed_forward(2))
    params = device_params(layer)
    x, y = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 3))
    z = x @ host_params(params)["W"] + host_params(params)["b"]
    np.testing.assert_allclose(run_loss(layer, x, params, y)[0].item(),
                               np.mean(per_example(z - y)), rtol=1e-12)


def test_labels_with_the_wrong_number_of_classes():
    layer = ready(OutputLayer(name="out", n_out=3), InputType.feed_forward(2))
    with pytest.raises(ValueError, match=r"layer 'out' \(OutputLayer\): labels of shape \(4, 2\) "
                                         r"do not match the output of shape \(4, 3\) \(3 classes\)"):
        layer.compute_loss(Tensor(np.zeros((4, 2))), device_params(layer), Tensor(np.zeros((4, 2))),
                           Context(train=False, rng=None))


def test_loss_layer_has_no_params_and_scores_its_input(device):
    layer = ready(LossLayer(loss=LossFunction.MSE, activation=Activation.IDENTITY),
                   InputType.feed_forward(3))
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    loss, out = run_loss(layer, x, {}, y)
    assert layer.param_shapes() == {} and layer.n_out == 3
    np.testing.assert_allclose(out.numpy(), x)
    np.testing.assert_allclose(loss.item(), np.mean((x - y) ** 2), rtol=1e-12)
