"""The MODEL argument: Keras and ONNX files go through minidl.modelimport, and each zoo
model's default feature vertex is one of its vertices."""

import pytest

from minidl import cli
from minidl.cli.models import FEATURE_VERTEX, load_model


def test_an_importable_file_is_imported(tmp_path, monkeypatch, capsys):
    from minidl import modelimport
    from tests.transfer.vgg_like import vgg_like
    net = vgg_like()
    asked = []

    def import_model(path):
        asked.append(str(path))
        return net
    monkeypatch.setattr(modelimport, "import_model", import_model)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx stand-in")
    assert load_model(str(onnx)) is net and asked == [str(onnx)]
    assert net.class_names is None and net.pre_processor is None
    assert cli.main(["summary", str(onnx)]) == 0
    assert "block5_pool" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(FEATURE_VERTEX))
def test_each_zoo_models_feature_vertex_is_in_its_layout(name):
    from minidl.cli.models import zoo_model
    model = zoo_model(name)
    names = model.pretrained_conf(1000, include_top=True).known_names()
    assert FEATURE_VERTEX[name] in names
    assert FEATURE_VERTEX[name] == getattr(model, "pooling_vertex", "fc2")


@pytest.mark.parametrize("words", [["predict"], ["transfer"]])
def test_help_of_the_new_commands(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(words + ["--help"])
    assert exit_info.value.code == 0
    assert "usage: minidl" in capsys.readouterr().out
