"""Model zips written before the architecture change (main at 102b253, by
tests/fixtures/compat/make_fixture.py) still load, give the same outputs and train on identically.

The graph has a frozen convolution, batch norm and pooling below two dense branches with Adam
state; the MultiLayerNetwork a frozen layer 0 below layers with Nesterovs state. ``expected.npz``
holds what the old code computed: the outputs of the restored networks, and every parameter
after one more ``fit`` step on the same batch.
"""

import pathlib

import numpy as np
import pytest

from minidl import ComputationGraph, MultiLayerNetwork

FIXTURES = pathlib.Path(__file__).parents[2] / "fixtures" / "compat"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return dict(data)


def _after(expected, prefix):
    return {key.split("/", 1)[1]: value for key, value in expected.items()
            if key.startswith(prefix + "/")}


def test_old_graph_zip_loads_with_its_frozen_layers_and_outputs(expected):
    graph = ComputationGraph.load(FIXTURES / "graph.zip")
    assert [name for name, layer in graph.layer_items() if layer.frozen] == ["conv", "bn", "pool"]
    # Not bitwise: the fixture's numbers came from another machine's BLAS kernel, whose sums
    # may round in another order (one ulp apart here on OpenBLAS 0.3.31, Haswell kernel).
    np.testing.assert_allclose(graph.output_single(expected["graph_x"]),
                               expected["graph_output"], rtol=1e-6, atol=1e-7)


def test_old_graph_zip_trains_on_identically(expected):
    graph = ComputationGraph.load(FIXTURES / "graph.zip")
    graph.fit([expected["graph_x"]], [expected["graph_y"]])
    after = _after(expected, "graph_after")
    assert sorted(graph.param_table()) == sorted(after)
    for key, value in graph.param_table().items():
        np.testing.assert_allclose(value, after[key], rtol=1e-6, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(graph.output_single(expected["graph_x"]),
                               expected["graph_after_output"], rtol=1e-5, atol=1e-7)


def test_old_multilayer_zip_loads_and_trains_on_identically(expected):
    net = MultiLayerNetwork.load(FIXTURES / "mln.zip")
    assert [layer.frozen for layer in net.get_layers()] == [True, False, False]
    np.testing.assert_array_equal(net.output(expected["mln_x"]), expected["mln_output"])
    net.fit(expected["mln_x"], expected["mln_y"])
    after = _after(expected, "mln_after")
    assert sorted(net.param_table()) == sorted(after)
    for key, value in net.param_table().items():
        np.testing.assert_allclose(value, after[key], rtol=1e-6, atol=1e-7, err_msg=key)
    np.testing.assert_allclose(net.output(expected["mln_x"]), expected["mln_after_output"],
                               rtol=1e-5, atol=1e-7)
