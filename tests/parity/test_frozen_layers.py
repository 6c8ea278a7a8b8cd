"""DL4J's TestFrozenLayers, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TestFrozenLayers.java).

Ported, both: testFrozenMLN, testFrozenCG. For every L1 in {0, 0.3} x L2 in {0, 0.4} on the
fine-tune configuration, the transferred network is frozen up to layer 4 (pooling included);
after 20 fits only the new output layer's parameters have changed. The same original is reused
across the four combinations, which also checks the builders never change it; there is one
original per backend (``device``), made on it.
"""

import itertools

import numpy as np
import pytest

from devices import devices_of, host
from dl4j_nets import changed_keys, graph, mln, per_backend, rand, snapshot
from minidl import (Activation, ConvolutionLayer, ConvolutionMode, DenseLayer, InputType,
                    LossFunction, OutputLayer, Sgd, SubsamplingLayer, WeightInit)
from transfer import FineTuneConfiguration, TransferLearning

SETTINGS = dict(seed=12345, weight_init=WeightInit.XAVIER, activation=Activation.TANH,
                convolution_mode=ConvolutionMode.Same, updater=Sgd(0.3))
INPUT = InputType.convolutional_flat(28, 28, 1)


def _layers():
    return [ConvolutionLayer(n_out=3, kernel_size=(2, 2), stride=(1, 1)),
            SubsamplingLayer(kernel_size=(2, 2), stride=(1, 1)),
            ConvolutionLayer(n_in=3, n_out=3, kernel_size=(2, 2), stride=(1, 1)),
            DenseLayer(n_out=64),
            DenseLayer(n_in=64, n_out=64),
            OutputLayer(loss=LossFunction.MSE, n_in=64, n_out=10)]


def _new_output():
    return OutputLayer(loss=LossFunction.MEAN_ABSOLUTE_ERROR, n_in=64, n_out=10)


def _ftc(l1, l2):
    return FineTuneConfiguration.Builder().updater(Sgd(0.5)).l1(l1).l2(l2).build()


@pytest.fixture(scope="module")
def mln_originals():
    return {}


@pytest.fixture(scope="module")
def graph_originals():
    return {}


@pytest.fixture
def original_mln(mln_originals, device, request):
    return per_backend(mln_originals, request, lambda: mln(_layers(), input_type=INPUT, **SETTINGS))


@pytest.fixture
def original_graph(graph_originals, device, request):
    def build():
        layers = _layers()
        vertices = [(str(i), layer, ["in" if i == 0 else str(i - 1)])
                    for i, layer in enumerate(layers)]
        return graph(["in"], vertices, ["5"], input_types=[INPUT], **SETTINGS)
    return per_backend(graph_originals, request, build)


def _fit_and_check(net, fit, prefix, device):
    assert devices_of(net) == {device}
    rng = np.random.default_rng(12345)
    before = snapshot(net)
    for _ in range(20):
        fit(rand(rng, 16, 1, 28, 28), rand(rng, 16, 10))
    changed = changed_keys(before, net)
    # Every parameter of the new output layer moved; nothing else did.
    assert changed == sorted(k for k in before if k.startswith(prefix))
    assert changed  # the output layer has parameters, and they trained


@pytest.mark.parametrize("l1, l2", list(itertools.product([0.0, 0.3], [0.0, 0.4])))
def test_frozen_mln(original_mln, l1, l2, device):
    orig_params = host(original_mln.params()).copy()
    net = (TransferLearning.Builder(original_mln)
           .fine_tune_configuration(_ftc(l1, l2))
           .set_feature_extractor(4)
           .remove_output_layer()
           .add_layer(_new_output())
           .build())
    assert net.get_n_layers() == 6
    assert [layer.frozen for layer in net.layers] == [True] * 5 + [False]
    _fit_and_check(net, lambda x, y: net.fit(x, y), "5_", device)
    np.testing.assert_array_equal(host(original_mln.params()), orig_params)


@pytest.mark.parametrize("l1, l2", list(itertools.product([0.0, 0.3], [0.0, 0.4])))
def test_frozen_cg(original_graph, l1, l2, device):
    orig_params = host(original_graph.params()).copy()
    net = (TransferLearning.GraphBuilder(original_graph)
           .fine_tune_configuration(_ftc(l1, l2))
           .set_feature_extractor("4")
           .remove_vertex_and_connections("5")
           .add_layer("5", _new_output(), "4")
           .set_outputs("5")
           .build())
    assert net.get_num_layers() == 6
    assert [net.get_layer(str(i)).frozen for i in range(6)] == [True] * 5 + [False]
    _fit_and_check(net, lambda x, y: net.fit([x], [y]), "5_", device)
    np.testing.assert_array_equal(host(original_graph.params()), orig_params)
