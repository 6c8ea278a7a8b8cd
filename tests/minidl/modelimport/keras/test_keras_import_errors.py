"""Bad input: every case is an error naming the file, the layer and what was expected; and an
untrusted file runs nothing (a Lambda's bytecode is never unmarshalled)."""

import base64
import json
import marshal
import zipfile

import pytest

from keras_models import L, branches, sequential_cnn, vgg_like, w
from keras_writers import h5py, write_h5, write_json_and_weights, write_keras
from minidl.modelimport import KerasModelImport
from minidl.modelimport.keras import (InvalidKerasConfigurationException,
                                      UnsupportedKerasConfigurationException)

IMPORT = KerasModelImport.import_keras_model_and_weights


def _with_layer(layer, after="fc2", model=None):
    """vgg_like with ``layer`` inserted after ``after`` (which it reads)."""
    model = model or vgg_like()
    index = [la.name for la in model.layers].index(after) + 1
    layer.inputs = layer.inputs or [after]
    model.layers.insert(index, layer)
    model.layers[index + 1].inputs = [layer.name]
    return model


def _payload(target):
    code = compile(f"open({str(target)!r}, 'w').write('ran')", "<lambda>", "exec")
    return base64.b64encode(marshal.dumps(code)).decode()


@pytest.mark.parametrize("dialect", [2, 3])
def test_a_lambda_is_refused_by_name_and_its_code_never_runs(tmp_path, dialect):
    target = tmp_path / "written_by_the_lambda.txt"
    function = ([_payload(target), None, None] if dialect == 2 else
                {"class_name": "__lambda__", "config": {"code": _payload(target),
                                                        "defaults": None, "closure": None}})
    lam = L("evil", "Lambda", {"function": function, "function_type": "lambda",
                               "module": "__main__", "output_shape": None, "arguments": {}})
    path = write_h5(tmp_path / "lambda.h5", _with_layer(lam), dialect)
    with pytest.raises(UnsupportedKerasConfigurationException, match="'evil'.*Lambda"):
        IMPORT(path)
    assert not target.exists()
    # the payload is live: run on purpose, it writes the file the import did not
    exec(marshal.loads(base64.b64decode(_payload(target))))  # noqa: S102 - the test's own code
    assert target.read_text() == "ran"


@pytest.mark.parametrize("entry_patch, what", [
    ({"registered_name": "MyPackage>Swish"}, "MyPackage>Swish"),
    ({"module": "my_package.layers"}, "my_package.layers"),
])
def test_a_custom_object_or_foreign_module_is_refused(tmp_path, entry_patch, what):
    path = write_keras(tmp_path / "custom.keras", vgg_like())
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    config["config"]["layers"][5].update(entry_patch)  # fc1
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    with pytest.raises(UnsupportedKerasConfigurationException, match=f"'fc1'.*{what}"):
        IMPORT(path)


def test_a_custom_activation_function_is_refused(tmp_path):
    model = vgg_like()
    model.layers[4].config["activation"] = {"module": "builtins", "class_name": "function",
                                            "config": "my_activation",
                                            "registered_name": "function"}
    with pytest.raises(UnsupportedKerasConfigurationException, match="'fc1'.*builtins"):
        IMPORT(write_keras(tmp_path / "act.keras", model))


def test_an_unsupported_layer_names_its_class_and_name_and_lists_the_supported(tmp_path):
    model = _with_layer(L("memory", "PReLU", {}, weights=[w(8)]))
    with pytest.raises(UnsupportedKerasConfigurationException,
                       match=r"PReLU \(layer 'memory'\); supported: .*Conv2D.*SeparableConv2D"):
        IMPORT(write_h5(tmp_path / "lstm.h5", model))


@pytest.mark.parametrize("patch, what", [
    ({"padding": "causal"}, "padding='causal'"),
    ({"data_format": "channels_first"}, "channels_first"),
    ({"activation": "gelu"}, "activation 'gelu'"),
    ({"activation": "hard_sigmoid"}, "Keras 3's hard_sigmoid"),
])
def test_an_unsupported_setting_names_the_layer(tmp_path, patch, what):
    model = vgg_like()
    model.layers[0].config.update(patch)
    with pytest.raises(UnsupportedKerasConfigurationException, match=f"block1_conv1.*{what}"):
        IMPORT(write_h5(tmp_path / "bad.h5", model, 3))


def test_keras2_hard_sigmoid_is_dl4j_hardsigmoid(tmp_path):
    model = vgg_like()
    model.layers[0].config["activation"] = "hard_sigmoid"
    net = IMPORT(write_h5(tmp_path / "hs.h5", model, 2))
    assert net.get_layer("block1_conv1").activation.name == "HARDSIGMOID"


def test_a_dense_on_a_feature_map_and_a_flatten_into_batch_norm_are_refused(tmp_path):
    model = vgg_like()
    model.layers[3] = L("flatten", "Dropout", {"rate": 0.1}, ["block1_pool"])  # no flatten
    with pytest.raises(UnsupportedKerasConfigurationException, match="'fc1'.*Flatten"):
        IMPORT(write_h5(tmp_path / "dense.h5", model))
    model = _with_layer(L("bn", "BatchNormalization", {}, weights=[w(64)] * 4), "flatten")
    with pytest.raises(UnsupportedKerasConfigurationException, match="'bn'.*Flatten"):
        IMPORT(write_h5(tmp_path / "bn.h5", model))


def test_not_a_keras_file_names_the_file_and_what_it_holds(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"GIF89a not a model")
    with pytest.raises(InvalidKerasConfigurationException, match="junk.h5.*not a Keras model"):
        IMPORT(junk)
    with h5py.File(tmp_path / "weights.h5", "w") as f:
        f.attrs["layer_names"] = [b"fc1"]
    with pytest.raises(InvalidKerasConfigurationException,
                       match="weights.h5.*'model_config'.*layer_names.*model JSON"):
        IMPORT(tmp_path / "weights.h5")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InvalidKerasConfigurationException, match="other.keras.*readme.txt"):
        IMPORT(tmp_path / "other.keras")
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        IMPORT(tmp_path / "missing.keras")


def test_a_json_that_is_not_a_model(tmp_path):
    _, weights = write_json_and_weights(tmp_path / "m.json", tmp_path / "w.h5", vgg_like())
    (tmp_path / "m.json").write_text(json.dumps({"layers": []}))
    with pytest.raises(InvalidKerasConfigurationException, match="m.json.*class_name"):
        IMPORT(tmp_path / "m.json", weights)
    (tmp_path / "m.json").write_text(json.dumps({"class_name": "Dense", "config": {}}))
    with pytest.raises(InvalidKerasConfigurationException, match="found class_name 'Dense'"):
        IMPORT(tmp_path / "m.json", weights)


def test_a_functional_model_on_the_sequential_path_says_which_method(tmp_path):
    path = write_keras(tmp_path / "f.keras", branches())
    with pytest.raises(InvalidKerasConfigurationException,
                       match="Functional model; import it with.*import_keras_model_and_weights"):
        KerasModelImport.import_keras_sequential_model_and_weights(path)
    IMPORT(write_keras(tmp_path / "s.keras", sequential_cnn()))  # a Sequential fits both


def test_weights_missing_left_over_or_misshapen(tmp_path):
    model = vgg_like()
    model.layers[4].weights = model.layers[4].weights[:1]  # fc1 without its bias
    with pytest.raises(InvalidKerasConfigurationException, match="'fc1'.*needs weights"):
        IMPORT(write_h5(tmp_path / "missing.h5", model, 2))
    model = vgg_like()
    model.layers[4].weights[0] = w(63, 8)
    with pytest.raises(InvalidKerasConfigurationException, match="fc1"):
        IMPORT(write_h5(tmp_path / "shape.h5", model, 3))
    path = write_h5(tmp_path / "extra.h5", vgg_like(), 2)
    with h5py.File(path, "a") as f:
        group = f["model_weights"].create_group("ghost")
        group.create_dataset("ghost/kernel:0", data=w(2, 2))
        group.attrs["weight_names"] = [b"ghost/kernel:0"]
        names = [n.encode() if isinstance(n, str) else bytes(n)
                 for n in f["model_weights"].attrs["layer_names"]]
        f["model_weights"].attrs["layer_names"] = names + [b"ghost"]
    with pytest.raises(InvalidKerasConfigurationException, match="not in the model.*ghost"):
        IMPORT(path)


def test_an_input_without_a_fixed_size_and_a_shared_layer(tmp_path):
    model = vgg_like()
    model.inputs = [("input_1", (None, None, 3))]
    with pytest.raises(UnsupportedKerasConfigurationException, match="'input_1'.*fixed-size"):
        IMPORT(write_h5(tmp_path / "free.h5", model, 3))
    path = write_h5(tmp_path / "shared.h5", vgg_like(), 2)
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        entry = config["config"]["layers"][6]  # fc2
        entry["inbound_nodes"] = entry["inbound_nodes"] * 2
        f.attrs["model_config"] = json.dumps(config)
    with pytest.raises(UnsupportedKerasConfigurationException, match="'fc2' is shared"):
        IMPORT(path)
