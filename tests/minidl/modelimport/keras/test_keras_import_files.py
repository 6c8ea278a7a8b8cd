"""Files the tests write (both dialects, every file kind, nested models) import into networks
that compute what Keras computes: checked against keras_reference, a NumPy evaluation in
Keras' own NHWC layout."""

import numpy as np
import pytest

from keras_models import branches, every_layer, nested_transfer_model, sequential_cnn, vgg_like
from keras_reference import evaluate
from keras_writers import write_h5, write_json_and_weights, write_keras
from minidl import ComputationGraph, MultiLayerNetwork
from minidl.modelimport import KerasModelImport, import_model

FORMATS = ["h5-keras2", "h5-keras3", "keras", "json-keras2", "json-keras3"]


def write(model, kind, folder, **training):
    """The model written as ``kind``; returns the argument list of an import method."""
    if kind == "keras":
        return [write_keras(folder / "m.keras", model, training.get("compile_config"))]
    dialect = int(kind[-1])
    if kind.startswith("h5"):
        return [write_h5(folder / "m.h5", model, dialect, training.get("training_config"))]
    return list(write_json_and_weights(folder / "m.json", folder / "w.h5", model, dialect))


def nchw(x):
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def inputs_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((2,) + shape).astype(np.float32)
            for name, shape in model.inputs}


def check_outputs(net, model, outputs=None):
    xs = inputs_for(model)
    expected = evaluate(model, xs)
    got = net.output(*[nchw(x) for x in xs.values()])
    got = got if isinstance(got, list) else [got]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), nchw(e), rtol=1e-4, atol=1e-5)
    return got


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("make", [sequential_cnn, branches, every_layer, vgg_like,
                                  nested_transfer_model])
def test_imported_graph_computes_what_keras_computes(tmp_path, kind, make):
    model = make()
    net = KerasModelImport.import_keras_model_and_weights(*write(model, kind, tmp_path))
    assert isinstance(net, ComputationGraph)
    check_outputs(net, model)


def test_vertex_names_are_the_keras_layer_names(tmp_path):
    net = import_model(write(branches(), "keras", tmp_path)[0])
    names = net.get_configuration().known_names()
    assert set(names) == {"img", "stem", "dw", "dw_relu", "sep", "add", "concat", "avg", "gap",
                          "predictions"}
    assert net.get_configuration().vertex_inputs["concat"] == ["add", "dw_relu"]


def test_nested_models_are_flattened_with_unique_recognisable_names(tmp_path):
    net = import_model(write(nested_transfer_model(), "h5-keras3", tmp_path)[0])
    names = set(net.get_configuration().known_names())
    # the inner model's layers keep their names; the inner "head" collides with the outer one
    assert {"image", "conv_a", "bn_a", "flatten", "backbone/head", "head"} <= names
    assert "backbone" not in names and "backbone_in" not in names
    assert net.get_configuration().vertex_inputs["conv_a"] == ["image"]


@pytest.mark.parametrize("kind", ["h5-keras2", "keras", "json-keras3"])
def test_sequential_imports_as_a_multilayer_network(tmp_path, kind):
    model = sequential_cnn()
    net = KerasModelImport.importKerasSequentialModelAndWeights(*write(model, kind, tmp_path))
    assert isinstance(net, MultiLayerNetwork)
    assert [layer.name for layer in net.get_layers()] == [
        "conv_a", "bn_a", "pool_a", "pad_b", "conv_b", "fc", "drop", "out"]
    check_outputs(net, model)


def test_flatten_reorders_the_next_dense_rows_from_keras_hwc(tmp_path):
    """The permutation is not the identity: fc's kernel, read as it is, computes otherwise."""
    model = sequential_cnn()
    net = import_model(write(model, "keras", tmp_path)[0])
    keras_kernel = model.layers[6].weights[0]
    ours = net.get_param("fc_W")
    assert ours.shape == keras_kernel.shape and not np.allclose(ours, keras_kernel)
    # row (c, h, w) of ours is row (h, w, c) of Keras': a 2x2x5 map
    np.testing.assert_array_equal(ours[1 * 4 + 0 * 2 + 1], keras_kernel[0 * 10 + 1 * 5 + 1])


def test_inputs_are_nchw_and_the_last_layer_stays_a_dense_layer(tmp_path):
    net = import_model(write(vgg_like(), "h5-keras2", tmp_path)[0])
    assert type(net.get_layer("predictions")).__name__ == "DenseLayer"
    assert net.get_configuration().input_types[0].shape() == (3, 8, 8)


@pytest.mark.parametrize("make", [sequential_cnn, branches, every_layer, nested_transfer_model])
def test_keras_files_before_3_6_are_matched_by_group_number(tmp_path, make):
    """Keras < 3.6 wrote no layer names into model.weights.h5: groups "conv2d", "conv2d_1" ...
    are numbered over the model's layers, by class."""
    model = make()
    net = import_model(write_keras(tmp_path / "old.keras", model, names=False))
    check_outputs(net, model)
