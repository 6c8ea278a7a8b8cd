"""Bad and untrusted input: clear errors naming the file, op, node, opset or tensor; external
weight files only from inside the model's folder and never past their end."""

import numpy as np
import pytest

from onnx_cases import check, helper, model, onnx, rand

from minidl.modelimport import OnnxModelImport

node = helper.make_node
X4 = (2, 3, 6, 6)


def _conv_model():
    return model([node("Conv", ["x", "W"], ["y"], name="the_conv")], X4, {"W": rand(2, 3, 1, 1)})


def test_a_file_that_is_not_onnx_names_the_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_bytes(b"this is not a protobuf \xff\xfe\x00 at all")
    with pytest.raises(ValueError, match="notes.onnx: not an ONNX model"):
        OnnxModelImport.import_model(path)


def test_an_unsupported_op_names_op_node_opset_and_the_supported_ones(tmp_path):
    proto = model([node("Erf", ["x"], ["y"], name="my_erf")], X4, opset=13)
    onnx.save(proto, str(tmp_path / "erf.onnx"))
    with pytest.raises(ValueError) as e:
        OnnxModelImport.import_model(tmp_path / "erf.onnx")
    message = str(e.value)
    for part in ("'Erf'", "my_erf", "opset 13", "supported ops:", "Conv", "BatchNormalization"):
        assert part in message


def test_an_opset_outside_11_to_18_is_refused(tmp_path):
    onnx.save(model([node("Relu", ["x"], ["y"])], X4, opset=10), str(tmp_path / "old.onnx"))
    with pytest.raises(ValueError, match="opset 10.*11 to 18"):
        OnnxModelImport.import_model(tmp_path / "old.onnx")


def test_two_data_inputs_are_refused(tmp_path):
    from onnx import TensorProto
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3]) for n in ("a", "b")]
    graph = helper.make_graph([node("Add", ["a", "b"], ["y"])], "two", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(tmp_path / "two.onnx"))
    with pytest.raises(ValueError, match=r"2 data inputs \['a', 'b'\].*exactly one"):
        OnnxModelImport.import_model(tmp_path / "two.onnx")


def test_dynamic_spatial_sizes_are_refused(tmp_path):
    proto = _conv_model()
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    onnx.save(proto, str(tmp_path / "dyn.onnx"))
    with pytest.raises(ValueError, match="dynamic sizes.*only the batch"):
        OnnxModelImport.import_model(tmp_path / "dyn.onnx")


def test_a_reshape_that_merges_the_batch_is_refused(tmp_path):
    proto = model([node("Reshape", ["x", "s"], ["r"], name="merge"), node("Relu", ["r"], ["y"])],
                  X4, {"s": np.array([-1, 6], np.int64)})
    onnx.save(proto, str(tmp_path / "merge.onnx"))
    with pytest.raises(ValueError, match="'merge'.*keeping the batch axis"):
        OnnxModelImport.import_model(tmp_path / "merge.onnx")


def _external(proto, location, length=None):
    """``proto`` with initializer W moved to external file ``location``; returns W's bytes."""
    tensor = proto.graph.initializer[0]
    data = tensor.raw_data
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entries = {"location": location, "offset": "0",
               "length": str(len(data) if length is None else length)}
    for key, value in entries.items():
        tensor.external_data.add(key=key, value=value)
    return data


def test_external_data_inside_the_folder_is_read(tmp_path):
    proto = _conv_model()
    x = rand(*X4)
    check(tmp_path, proto, x, "inline.onnx")
    data = _external(proto, "weights/w.bin")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(data)
    check(tmp_path, proto, x, "external.onnx")


@pytest.mark.parametrize("location", ["../secret.bin", "weights/../../secret.bin",
                                      "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    proto = _conv_model()
    data = _external(proto, location)
    (tmp_path / "secret.bin").write_bytes(data)
    onnx.save(proto, str(folder / "m.onnx"))
    with pytest.raises(ValueError, match=f"'W'.*{location!r}.*inside the model's folder"):
        OnnxModelImport.import_model(folder / "m.onnx")


def test_external_data_declared_longer_than_its_file_is_an_error(tmp_path):
    proto = _conv_model()
    data = _external(proto, "w.bin", length=10_000)
    (tmp_path / "w.bin").write_bytes(data)
    onnx.save(proto, str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="'W' declares bytes 0..10000 of external file 'w.bin', "
                                         "which has only 24 bytes"):
        OnnxModelImport.import_model(tmp_path / "m.onnx")
