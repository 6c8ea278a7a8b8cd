"""transfer_head: the output replaced (DL4J's EditLastLayerOthersFrozen), or a head added on
a model's last vertex, with an optional hidden layer; the frozen part is the source's."""

import numpy as np
import pytest

from minidl import Activation, ComputationGraph
from transfer import TransferLearning
from transfer.heads import transfer_head
from vgg_like import CHANNELS, FC, images, vgg_like


def no_top(net):
    builder = TransferLearning.GraphBuilder(net)
    for top in ("predictions", "fc2", "fc1", "flatten"):
        builder.remove_vertex_and_connections(top)
    return builder.set_outputs("block5_pool").build()


def test_the_output_vertex_is_replaced_where_there_is_one():
    source = vgg_like()
    net = transfer_head(source, 3, seed=1, boundary="fc2")
    assert net.get_layer("predictions").n_in == FC and net.get_layer("predictions").n_out == 3
    assert net.get_layer("fc2").frozen and not net.get_layer("predictions").frozen
    np.testing.assert_array_equal(net.param_table()["fc1_W"], source.param_table()["fc1_W"])


@pytest.mark.parametrize("hidden", [None, 5])
def test_a_head_goes_on_the_last_vertex(hidden):
    source = no_top(vgg_like())
    net = transfer_head(source, 3, seed=1, boundary="block5_pool", hidden=hidden, dropout=0.2)
    assert net.wiring.outputs == ["predictions"]
    assert all(layer.frozen for key, layer in net.layer_items() if key.startswith("block"))
    output = net.get_layer("predictions")
    assert output.activation is Activation.SOFTMAX and output.n_out == 3
    if hidden:
        assert net.get_layer("head_hidden").n_in == CHANNELS[-1]  # the 1x1 map, flattened
        assert output.n_in == hidden and output.dropout == pytest.approx(0.8)  # retain
    else:
        assert output.n_in == CHANNELS[-1] and not output.dropout  # dropout needs a hidden layer
    # it trains: the head's parameters move, the frozen ones do not
    before = {k: v.copy() for k, v in net.param_table().items()}
    net.fit(images(8, 3))
    after = net.param_table()
    assert not np.array_equal(before["predictions_W"], after["predictions_W"])
    np.testing.assert_array_equal(before["block1_conv1_W"], after["block1_conv1_W"])


def test_a_head_below_the_last_vertex_drops_what_leads_nowhere():
    net = transfer_head(no_top(vgg_like()), 2, seed=1, boundary="block4_pool")
    assert "block5_conv1" not in net.wiring.vertices
    assert net.wiring.vertex_inputs["predictions"] == ["block4_pool"]
    assert net.get_layer("predictions").n_in == CHANNELS[-1] * 2 * 2  # a 2x2 map, flattened
    assert isinstance(net, ComputationGraph)


def test_a_multilayer_network_takes_no_hidden_layer():
    from zoo import LeNet
    with pytest.raises(ValueError, match="hidden layer needs a ComputationGraph"):
        transfer_head(LeNet(num_classes=4).init(), 4, seed=1, boundary=2, hidden=8)
