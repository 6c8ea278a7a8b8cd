"""DL4J's TestTransferLearningModelSerializer, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TestTransferLearningModelSerializer.java).

Ported, both: testModelSerializerFrozenLayers, testModelSerializerFrozenLayersCompGraph. A
network made by the transfer builders keeps its frozen layers through ModelSerializer's zip
(frozen-ness is part of the saved configuration), and the restored network has the same
configuration JSON, parameters and inference output. DL4J's extra Java-serialization round trip
has no Python counterpart. Both run on each backend (``device``): the restored network is made
on the default device, and the comparisons are made on the host.
"""

import numpy as np

from devices import devices_of, host
from dl4j_nets import graph, mln, rand
from minidl import (Activation, DenseLayer, FrozenLayer, LossFunction, ModelSerializer,
                    OutputLayer, Sgd)
from transfer import FineTuneConfiguration, TransferLearning


def _layers():
    return [DenseLayer(n_in=6, n_out=5), DenseLayer(n_in=5, n_out=4), DenseLayer(n_in=4, n_out=3),
            OutputLayer(loss=LossFunction.MCXENT, activation=Activation.SOFTMAX, n_in=3, n_out=3)]


def _round_trip(net, path, restore):
    ModelSerializer.write_model(net, path, True)
    restored = restore(path)
    assert devices_of(restored) == devices_of(net)
    assert restored.conf.to_json() == net.conf.to_json()
    np.testing.assert_array_equal(host(restored.params()), host(net.params()))
    return restored


def test_model_serializer_frozen_layers(tmp_path, device):
    orig = mln(_layers(), updater=Sgd(0.1), activation=Activation.TANH, dropout=0.5)
    with_frozen = (TransferLearning.Builder(orig)
                   .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.1)).build())
                   .set_feature_extractor(1).build())
    assert [isinstance(l, FrozenLayer) for l in with_frozen.layers] == [True, True, False, False]

    restored = _round_trip(with_frozen, tmp_path / "mln.zip",
                           ModelSerializer.restore_multi_layer_network)
    assert [isinstance(l, FrozenLayer) for l in restored.layers] == [True, True, False, False]
    x = rand(np.random.default_rng(12345), 3, 6)
    np.testing.assert_array_equal(host(with_frozen.output(x)), host(restored.output(x)))
    # Training-mode output (dropout) runs on both; DL4J does not compare it either.
    assert with_frozen.output(x, train=True).shape == restored.output(x, train=True).shape


def test_model_serializer_frozen_layers_comp_graph(tmp_path, device):
    layers = _layers()
    orig = graph(["in"], [(str(i), layer, ["in" if i == 0 else str(i - 1)])
                          for i, layer in enumerate(layers)], ["3"],
                 updater=Sgd(0.1), activation=Activation.TANH)
    with_frozen = (TransferLearning.GraphBuilder(orig)
                   .fine_tune_configuration(FineTuneConfiguration.Builder().updater(Sgd(0.1)).build())
                   .set_feature_extractor("1").build())
    frozen = lambda net: [isinstance(net.get_layer(str(i)), FrozenLayer) for i in range(4)]
    assert frozen(with_frozen) == [True, True, False, False]

    restored = _round_trip(with_frozen, tmp_path / "cg.zip", ModelSerializer.restore_computation_graph)
    assert frozen(restored) == [True, True, False, False]
    x = rand(np.random.default_rng(12345), 3, 6)
    np.testing.assert_array_equal(host(with_frozen.output_single(x)),
                                  host(restored.output_single(x)))
