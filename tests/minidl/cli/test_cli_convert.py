"""``minidl import`` and ``minidl export`` (and an ONNX file as any command's MODEL), checked
against onnxruntime on a small CNN built with onnx.helper."""

import numpy as np
import pytest

from cli_checks import one_error_line, usage_error
from minidl import cli
from minidl.cli.models import restore_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(3)


def _small_cnn():
    """x [N, 3, 8, 8] -> Conv 3x3 (4 maps) -> Relu -> GlobalAveragePool -> Flatten -> Gemm
    (5 classes) -> Softmax."""
    weights = {"w": RNG.normal(size=(4, 3, 3, 3)), "b": RNG.normal(size=4),
               "fc_w": RNG.normal(size=(5, 4)), "fc_b": RNG.normal(size=5)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["z"], name="fc", transB=1),
             helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1)]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _onnxruntime(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "small.onnx"
    onnx.save(_small_cnn(), str(path))
    return path


def test_import_saves_a_zip_that_computes_what_onnxruntime_does(onnx_file, tmp_path, capsys):
    out = tmp_path / "small.zip"
    assert cli.main(["import", str(onnx_file), "-o", str(out)]) == 0
    assert "small.zip" in capsys.readouterr().out
    x = RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(restore_model(out).output_single(x), _onnxruntime(onnx_file, x),
                               rtol=1e-4, atol=1e-6)


def test_export_writes_what_onnxruntime_runs_with_the_same_outputs(onnx_file, tmp_path):
    zipped, exported = tmp_path / "small.zip", tmp_path / "back.onnx"
    assert cli.main(["--quiet", "import", str(onnx_file), "-o", str(zipped)]) == 0
    assert cli.main(["--quiet", "export", str(zipped), "-o", str(exported),
                     "--opset", "13"]) == 0
    assert onnx.load(str(exported)).opset_import[0].version == 13
    x = RNG.normal(size=(3, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_onnxruntime(exported, x), restore_model(zipped).output_single(x),
                               rtol=1e-4, atol=1e-6)


def test_an_onnx_file_is_a_model_for_every_command(onnx_file, capsys):
    assert cli.main(["summary", str(onnx_file)]) == 0
    table = capsys.readouterr().out
    assert "conv" in table and "fc" in table


def test_import_refuses_what_is_not_a_model_file(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert cli.main(["import", str(text), "-o", str(tmp_path / "m.zip")]) == 1
    assert "expected a Keras .h5/.keras or an ONNX .onnx file" in one_error_line(capsys)
    assert cli.main(["import", str(tmp_path / "missing.onnx"), "-o", "m.zip"]) == 1
    assert "does not exist" in one_error_line(capsys)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xff not a protobuf" * 10)
    assert cli.main(["import", str(garbage), "-o", str(tmp_path / "m.zip")]) == 1
    line = one_error_line(capsys)
    assert "garbage.onnx" in line and "not an ONNX model" in line
    assert not (tmp_path / "m.zip").exists()


def test_export_opset_outside_the_range_is_a_usage_error(onnx_file, tmp_path, capsys):
    line = usage_error(["export", str(onnx_file), "-o", str(tmp_path / "x.onnx"),
                        "--opset", "30"], capsys)
    assert "--opset" in line
