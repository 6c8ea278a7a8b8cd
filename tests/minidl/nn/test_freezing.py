"""minidl.nn.freezing: the one place that marks a vertex frozen and takes the mark off."""

from minidl import DenseLayer, FrozenLayer, FrozenLayerWithBackprop, FrozenVertex, MergeVertex
from minidl.nn.freezing import frozen, thawed
from minidl.nn.layers import unwrap


def test_frozen_wraps_a_layer_once_and_thawed_removes_only_that_mark():
    dense = DenseLayer(name="fc", n_in=2, n_out=3)
    wrapped = frozen(dense)
    assert type(wrapped) is FrozenLayer and wrapped.layer is dense and wrapped.name == "fc"
    assert frozen(wrapped) is wrapped
    with_backprop = FrozenLayerWithBackprop(dense)
    assert frozen(with_backprop) is with_backprop  # already frozen: not wrapped again
    assert thawed(wrapped) is dense and thawed(dense) is dense
    assert thawed(with_backprop) is with_backprop  # a deliberate design choice, kept
    assert unwrap(FrozenLayer(with_backprop)) is dense


def test_a_parameter_free_vertex_is_frozen_as_a_frozen_vertex():
    merge = MergeVertex()
    wrapped = frozen(merge)
    assert type(wrapped) is FrozenVertex and wrapped.vertex is merge
    assert frozen(wrapped) is wrapped and thawed(wrapped) is merge and thawed(merge) is merge
