"""ModelSerializer: zip layout, identical restore, identical continued training, clear errors,
the input normalizer saved beside the network."""

import io
import json
import zipfile

import numpy as np
import pytest

from devices import devices_of, host
from minidl import (Activation, Adam, ComputationGraph, DataSet, DenseLayer, FrozenLayer,
                    ImagePreProcessingScaler, InputType, LossFunction, MergeVertex,
                    ModelSerializer, MultiLayerNetwork, Nesterovs, NeuralNetConfiguration,
                    NormalizerStandardize, OutputLayer, VGG16ImagePreProcessor)
from minidl.backend import set_device


def _mlp(dropout=None, frozen=False):
    hidden = DenseLayer(n_out=8, activation=Activation.TANH)
    builder = NeuralNetConfiguration.Builder().seed(7).updater(Adam(0.05))
    if dropout:
        builder = builder.dropout(dropout)
    conf = (builder.list()
            .layer(FrozenLayer(hidden) if frozen else hidden)
            .layer(DenseLayer(n_out=6, activation=Activation.RELU))
            .layer(OutputLayer(loss=LossFunction.MCXENT, n_out=3, activation=Activation.SOFTMAX))
            .set_input_type(InputType.feed_forward(4)).build())
    return MultiLayerNetwork(conf).init()


def _graph():
    conf = (NeuralNetConfiguration.Builder().seed(3).updater(Nesterovs(0.05)).graph_builder()
            .add_inputs("a", "b")
            .add_layer("da", DenseLayer(n_out=5, activation=Activation.RELU), "a")
            .add_layer("db", DenseLayer(n_out=4, activation=Activation.TANH), "b")
            .add_vertex("merge", MergeVertex(), "da", "db")
            .add_layer("out", OutputLayer(loss=LossFunction.MCXENT, n_out=2,
                                          activation=Activation.SOFTMAX), "merge")
            .set_outputs("out")
            .set_input_types(InputType.feed_forward(3), InputType.feed_forward(2)).build())
    return ComputationGraph(conf).init()


def _data(seed=0, n=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return DataSet(x, y)


def _graph_data(seed=0, n=10):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(n, 2)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    return a, b, y


def test_zip_holds_the_documented_entries(tmp_path, device):
    net = _mlp()
    net.fit(_data())
    path = tmp_path / "m.zip"
    ModelSerializer.write_model(net, path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"configuration.json", "coefficients.npz",
                                      "updaterState.npz", "meta.json"}
        meta = json.loads(zf.read("meta.json"))
        coefficients = np.load(io.BytesIO(zf.read("coefficients.npz")), allow_pickle=False)
        state = np.load(io.BytesIO(zf.read("updaterState.npz")), allow_pickle=False)
        assert zf.read("configuration.json").decode() == net.conf.to_json()
        assert sorted(coefficients.files) == sorted(net.param_table())
        np.testing.assert_array_equal(coefficients["1_W"], host(net.get_param("1_W")))
        assert sorted(state.files) == sorted(f"{k}/{s}" for k in net.param_table() for s in "MV")
        np.testing.assert_array_equal(state["0_W/M"], host(net.updater_state[("0", "W")]["M"]))
    assert meta["network_type"] == "MultiLayerNetwork"
    assert meta["iteration_count"] == 1 and meta["epoch_count"] == 0
    assert meta["format_version"] == 1 and meta["minidl_version"]


def test_without_updater_there_is_no_state_entry(tmp_path, device):
    net = _mlp()
    net.fit(_data())
    ModelSerializer.writeModel(net, tmp_path / "m.zip", False)  # DL4J spelling
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        assert "updaterState.npz" not in zf.namelist()
    restored = ModelSerializer.restoreMultiLayerNetwork(str(tmp_path / "m.zip"))
    assert restored.updater_state == {}
    np.testing.assert_array_equal(host(restored.params()), host(net.params()))


@pytest.mark.parametrize("dropout", [None, 0.7])
def test_multilayer_restores_identical_outputs_and_next_fit_step(tmp_path, dropout, device):
    net = _mlp(dropout=dropout)
    for seed in range(3):
        net.fit(_data(seed))
    ModelSerializer.write_model(net, tmp_path / "m.zip", save_updater=True)
    restored = ModelSerializer.restore_multi_layer_network(tmp_path / "m.zip")
    assert devices_of(restored) == {device}  # restored onto the current device

    x = _data(9).features
    np.testing.assert_array_equal(host(restored.output(x)), host(net.output(x)))
    assert restored.conf.to_json() == net.conf.to_json()
    assert restored.iteration_count == net.iteration_count == 3
    # The next steps (Adam's moments, bias correction by iteration, dropout masks) match exactly.
    for seed in (5, 6):
        assert restored.fit(_data(seed)) == net.fit(_data(seed))
    np.testing.assert_array_equal(host(restored.params()), host(net.params()))


def test_without_loaded_updater_the_next_step_differs(tmp_path, device):
    # Guards the previous test: the restored state does matter for Adam.
    net = _mlp()
    for seed in range(3):
        net.fit(_data(seed))
    ModelSerializer.write_model(net, tmp_path / "m.zip")
    fresh = ModelSerializer.restore_multi_layer_network(tmp_path / "m.zip", load_updater=False)
    fresh.fit(_data(5))
    net.fit(_data(5))
    assert not np.allclose(host(fresh.params()), host(net.params()))


def test_graph_restores_identical_outputs_and_next_fit_step(tmp_path, device):
    net = _graph()
    a, b, y = _graph_data()
    net.fit([a, b], [y])
    net.fit([a, b], [y])
    path = tmp_path / "g.zip"
    ModelSerializer.write_model(net, path)
    restored = ModelSerializer.restore_computation_graph(path)
    assert devices_of(restored) == {device}
    np.testing.assert_array_equal(host(restored.output(a, b)[0]), host(net.output(a, b)[0]))
    a2, b2, y2 = _graph_data(1)
    assert restored.fit([a2, b2], [y2]) == net.fit([a2, b2], [y2])
    np.testing.assert_array_equal(host(restored.params()), host(net.params()))


def test_frozen_layers_stay_frozen(tmp_path, device):
    net = _mlp(frozen=True)
    ModelSerializer.write_model(net, tmp_path / "m.zip")
    restored = ModelSerializer.restore_multi_layer_network(tmp_path / "m.zip")
    assert type(restored.get_layer(0)).__name__ == "FrozenLayer"
    before = host(restored.get_param("0_W")).copy()
    restored.fit(_data())
    np.testing.assert_array_equal(host(restored.get_param("0_W")), before)
    assert restored.num_params(backprop_only=True) == net.num_params(backprop_only=True) < \
        net.num_params()


def test_float64_parameters_keep_their_dtype(tmp_path, device):
    conf = (NeuralNetConfiguration.Builder().data_type("float64").list()
            .layer(OutputLayer(n_in=3, n_out=2, activation=Activation.SOFTMAX)).build())
    net = MultiLayerNetwork(conf).init()
    ModelSerializer.write_model(net, tmp_path / "m.zip")
    restored = ModelSerializer.restore_multi_layer_network(tmp_path / "m.zip")
    assert restored.get_param("0_W").dtype == np.float64
    np.testing.assert_array_equal(host(restored.get_param("0_W")), host(net.get_param("0_W")))


def test_a_model_trained_on_one_device_restores_on_the_other(tmp_path, device):
    # Trained on ``device``, restored on the host, trained there, restored on ``device`` again.
    net = _mlp()
    for seed in range(3):
        net.fit(_data(seed))
    ModelSerializer.write_model(net, tmp_path / "m.zip")
    x = _data(9).features
    set_device("cpu")
    on_host = ModelSerializer.restore_multi_layer_network(tmp_path / "m.zip")
    assert devices_of(on_host) == {"cpu"}
    np.testing.assert_allclose(host(on_host.output(x)), host(net.output(x)), rtol=1e-5)
    assert on_host.fit(_data(5)) == pytest.approx(net.fit(_data(5)), rel=1e-5)
    ModelSerializer.write_model(on_host, tmp_path / "h.zip")
    set_device(device)
    back = ModelSerializer.restore_multi_layer_network(tmp_path / "h.zip")
    assert devices_of(back) == {device}
    np.testing.assert_allclose(host(back.output(x)), host(on_host.output(x)), rtol=1e-5)
    np.testing.assert_allclose(host(back.params()), host(net.params()), rtol=1e-4, atol=1e-6)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.zip"
    net = _mlp()
    ModelSerializer.write_model(net, path)
    original = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    net.fit(_data())
    with pytest.raises(RuntimeError, match="disk full"):
        ModelSerializer.write_model(net, path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]  # no temp file left behind


def test_writing_an_uninitialised_network_is_refused(tmp_path):
    conf = _mlp().conf
    with pytest.raises(RuntimeError, match="init"):
        ModelSerializer.write_model(MultiLayerNetwork(conf), tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


# -- bad files --------------------------------------------------------------------------------

def _saved(tmp_path):
    path = tmp_path / "m.zip"
    net = _mlp()
    net.fit(_data())
    ModelSerializer.write_model(net, path)
    return path


def _rewrite(path, **replace):
    with zipfile.ZipFile(path) as src:
        entries = {n: src.read(n) for n in src.namelist()}
    entries.update(replace)
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in entries.items():
            dst.writestr(name, data)


def test_truncated_zip(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"m\.zip.*(corrupt|truncated)"):
            ModelSerializer.restore_multi_layer_network(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ValueError, match=r"model\.zip.*not a readable zip"):
        ModelSerializer.restore_multi_layer_network(path)


def test_corrupt_entry_data(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("coefficients.npz")
    # Flip bytes in the middle of the entry's compressed data: a CRC or inflate error.
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + 25):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m\.zip.*coefficients\.npz"):
        ModelSerializer.restore_multi_layer_network(path)


def test_missing_entry(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as src:
        entries = {n: src.read(n) for n in src.namelist() if n != "coefficients.npz"}
    with zipfile.ZipFile(path, "w") as dst:  # rewritten without the entry
        for name, data in entries.items():
            dst.writestr(name, data)
    with pytest.raises(ValueError, match=r"m\.zip.*no 'coefficients\.npz' entry"):
        ModelSerializer.restore_multi_layer_network(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.zip"):
        ModelSerializer.restore_multi_layer_network(tmp_path / "nothere.zip")


def test_wrong_network_type(tmp_path):
    mlp_path = _saved(tmp_path)
    with pytest.raises(ValueError, match=r"m\.zip.*MultiLayerNetwork.*restore_multi_layer_network"):
        ModelSerializer.restore_computation_graph(mlp_path)
    graph_path = tmp_path / "g.zip"
    ModelSerializer.write_model(_graph(), graph_path)
    with pytest.raises(ValueError, match=r"g\.zip.*ComputationGraph.*restore_computation_graph"):
        ModelSerializer.restore_multi_layer_network(graph_path)


def test_pickled_arrays_are_refused(tmp_path):
    path = _saved(tmp_path)
    buffer = io.BytesIO()
    np.savez(buffer, **{"0_W": np.array([object()], dtype=object)})
    _rewrite(path, **{"coefficients.npz": buffer.getvalue()})
    with pytest.raises(ValueError, match=r"m\.zip.*coefficients\.npz.*plain arrays"):
        ModelSerializer.restore_multi_layer_network(path)


def test_coefficients_that_do_not_fit_the_configuration(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as src:
        coefficients = dict(np.load(io.BytesIO(src.read("coefficients.npz"))))
    coefficients["1_W"] = np.zeros((2, 2), np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **coefficients)
    _rewrite(path, **{"coefficients.npz": buffer.getvalue()})
    with pytest.raises(ValueError, match=r"m\.zip.*'1_W' has shape \(2, 2\)"):
        ModelSerializer.restore_multi_layer_network(path)


def test_meta_that_is_not_json(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, **{"meta.json": b"{not json"})
    with pytest.raises(ValueError, match=r"m\.zip.*'meta\.json' is not valid JSON"):
        ModelSerializer.restore_multi_layer_network(path)


def test_configuration_that_is_not_valid(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, **{"configuration.json": b'{"@class": "NoSuchThing"}'})
    with pytest.raises(ValueError, match=r"m\.zip.*configuration\.json is not a valid "
                                         r"MultiLayerConfiguration.*NoSuchThing"):
        ModelSerializer.restore_multi_layer_network(path)


def test_newer_format_version(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    meta["format_version"] = 99
    _rewrite(path, **{"meta.json": json.dumps(meta).encode()})
    with pytest.raises(ValueError, match=r"m\.zip.*format version 99"):
        ModelSerializer.restore_multi_layer_network(path)


def test_restore_model_returns_whichever_network_was_saved(tmp_path):
    mln_path = _saved(tmp_path)
    graph, graph_path = _graph(), tmp_path / "g.zip"
    ModelSerializer.write_model(graph, graph_path)
    restored = ModelSerializer.restore_model(mln_path)
    assert isinstance(restored, MultiLayerNetwork)
    np.testing.assert_array_equal(restored.params(),
                                  ModelSerializer.restore_multi_layer_network(mln_path).params())
    restored_graph = ModelSerializer.restoreModel(graph_path)
    assert isinstance(restored_graph, ComputationGraph)
    np.testing.assert_array_equal(restored_graph.params(), graph.params())


# -- the normalizer saved with the model --------------------------------------------------------

def _standardize():
    data = _data(1, n=30)
    return NormalizerStandardize().fit_label(True).fit(DataSet(data.features * 5 + 2,
                                                               data.labels))


def _entries(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_write_model_with_a_normalizer_restores_the_same_transform(tmp_path, device):
    net, normalizer = _mlp(), _standardize()
    net.fit(_data())
    path = tmp_path / "m.zip"
    ModelSerializer.write_model(net, path, True, normalizer)
    assert set(_entries(path)) == {"configuration.json", "coefficients.npz", "updaterState.npz",
                                   "meta.json", "normalizer.json", "normalizer.npz"}
    restored = ModelSerializer.restore_normalizer_from_file(path)
    assert isinstance(restored, NormalizerStandardize) and restored.is_fit_label()
    x = _data(9).features * 5 + 2
    np.testing.assert_array_equal(host(restored.transform(x)), host(normalizer.transform(x)))
    np.testing.assert_array_equal(restored.label_std, normalizer.label_std)


def test_a_normalizer_without_statistics_needs_no_arrays_entry(tmp_path):
    path = tmp_path / "m.zip"
    ModelSerializer.write_model(_mlp(), path, normalizer=ImagePreProcessingScaler(-1, 1))
    assert "normalizer.npz" not in _entries(path)
    restored = ModelSerializer.restore_normalizer_from_file(path)
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(restored.transform(pixels),
                                  ImagePreProcessingScaler(-1, 1).transform(pixels))


def test_add_normalizer_keeps_every_other_entry_and_replaces_the_old_one(tmp_path):
    path = _saved(tmp_path)
    before = _entries(path)
    ModelSerializer.add_normalizer_to_model(path, _standardize())
    with_standardize = _entries(path)
    assert {n: d for n, d in with_standardize.items() if not n.startswith("normalizer.")} == \
        before
    ModelSerializer.addNormalizerToModel(path, VGG16ImagePreProcessor())  # DL4J spelling
    after = _entries(path)
    assert set(after) == set(before) | {"normalizer.json"}  # the old normalizer.npz is gone
    assert {n: d for n, d in after.items() if n != "normalizer.json"} == before
    assert isinstance(ModelSerializer.restore_normalizer_from_file(path), VGG16ImagePreProcessor)
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]  # no temp file left behind


def test_restores_with_the_normalizer_return_the_pair(tmp_path):
    mln_path, normalizer = _saved(tmp_path), _standardize()
    ModelSerializer.add_normalizer_to_model(mln_path, normalizer)
    net, restored = ModelSerializer.restore_multi_layer_network_and_normalizer(mln_path)
    assert isinstance(net, MultiLayerNetwork) and net.updater_state
    np.testing.assert_array_equal(restored.mean, normalizer.mean)
    graph_path = tmp_path / "g.zip"
    ModelSerializer.write_model(_graph(), graph_path, normalizer=VGG16ImagePreProcessor())
    graph, restored = ModelSerializer.restoreComputationGraphAndNormalizer(graph_path, False)
    assert isinstance(graph, ComputationGraph) and graph.updater_state == {}
    assert isinstance(restored, VGG16ImagePreProcessor)


def test_a_model_without_a_normalizer_restores_none(tmp_path):
    path = _saved(tmp_path)
    assert ModelSerializer.restoreNormalizerFromFile(path) is None
    net, normalizer = ModelSerializer.restore_multi_layer_network_and_normalizer(path)
    assert isinstance(net, MultiLayerNetwork) and normalizer is None


def test_an_unfitted_normalizer_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"cannot save an unfitted NormalizerStandardize"):
        ModelSerializer.write_model(_mlp(), tmp_path / "m.zip", normalizer=NormalizerStandardize())
    assert not (tmp_path / "m.zip").exists()
    path = _saved(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"cannot save an unfitted NormalizerStandardize"):
        ModelSerializer.add_normalizer_to_model(path, NormalizerStandardize())
    assert path.read_bytes() == before
    with pytest.raises(TypeError, match=r"must be a DataNormalization.*got str"):
        ModelSerializer.write_model(_mlp(), path, normalizer="standardize")


def test_damaged_normalizer_entries(tmp_path):
    path = _saved(tmp_path)
    ModelSerializer.add_normalizer_to_model(path, _standardize())
    good = _entries(path)
    _rewrite(path, **{"normalizer.json": b"{not json"})
    with pytest.raises(ValueError, match=r"m\.zip.*'normalizer\.json' is not valid JSON"):
        ModelSerializer.restore_normalizer_from_file(path)
    _rewrite(path, **{"normalizer.json": good["normalizer.json"],
                      "normalizer.npz": b"PK\x03\x04 truncated"})
    with pytest.raises(ValueError, match=r"m\.zip.*'normalizer\.npz' is not a readable \.npz"):
        ModelSerializer.restore_normalizer_from_file(path)
    _rewrite(path, **{"normalizer.json": b'{"type": "NormalizerMinMax"}',
                      "normalizer.npz": good["normalizer.npz"]})
    with pytest.raises(ValueError, match=r"m\.zip.*normalizer\.json.*unknown DataNormalization "
                                         r"type 'NormalizerMinMax' \(known: "):
        ModelSerializer.restore_normalizer_from_file(path)
    buffer = io.BytesIO()
    np.savez(buffer, mean=np.zeros(4))  # std and the label statistics lost
    _rewrite(path, **{"normalizer.json": good["normalizer.json"],
                      "normalizer.npz": buffer.getvalue()})
    with pytest.raises(ValueError, match=r"m\.zip.*lacks std, label_mean, label_std"):
        ModelSerializer.restore_normalizer_from_file(path)


# -- file objects (DL4J's writeModel(model, OutputStream, ...) and restore*(InputStream)) -------

class _ReadOnlyStream(io.RawIOBase):
    """A stream that can only be read forwards (like a socket or a pipe): no seek."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def test_write_and_restore_through_file_objects(tmp_path, device):
    net, normalizer = _mlp(), _standardize()
    net.fit(_data())
    buffer = io.BytesIO()
    ModelSerializer.write_model(net, buffer, True, normalizer)
    assert not buffer.closed                                  # the caller's to close
    x = _data(9).features
    for restore in (ModelSerializer.restore_multi_layer_network, ModelSerializer.restore_model):
        buffer.seek(0)
        restored = restore(buffer)
        np.testing.assert_array_equal(host(restored.output(x)), host(net.output(x)))
        np.testing.assert_array_equal(host(restored.updater_state[("0", "W")]["M"]),
                                      host(net.updater_state[("0", "W")]["M"]))
    buffer.seek(0)
    again, restored_normalizer = \
        ModelSerializer.restore_multi_layer_network_and_normalizer(buffer)
    np.testing.assert_array_equal(restored_normalizer.mean, normalizer.mean)
    with open(tmp_path / "m.zip", "wb") as f:                 # an open file is a file object
        ModelSerializer.writeModel(_graph(), f, False)
    with open(tmp_path / "m.zip", "rb") as f:
        assert isinstance(ModelSerializer.restoreComputationGraph(f), ComputationGraph)


def test_restore_from_a_stream_that_cannot_seek():
    buffer = io.BytesIO()
    ModelSerializer.write_model(_mlp(), buffer, normalizer=VGG16ImagePreProcessor())
    net, normalizer = ModelSerializer.restore_multi_layer_network_and_normalizer(
        _ReadOnlyStream(buffer.getvalue()))
    assert isinstance(net, MultiLayerNetwork) and isinstance(normalizer, VGG16ImagePreProcessor)


def test_file_object_errors():
    with pytest.raises(ValueError, match="the model file object is not a readable zip"):
        ModelSerializer.restore_multi_layer_network(io.BytesIO(b"not a zip"))
    buffer = io.BytesIO()
    ModelSerializer.write_model(_mlp(), buffer)
    with pytest.raises(TypeError, match="add_normalizer_to_model .* needs a file name"):
        ModelSerializer.add_normalizer_to_model(buffer, VGG16ImagePreProcessor())
