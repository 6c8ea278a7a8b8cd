import sys

import numpy as np
import pytest

from weight_files import KERAS_LAYERS, keras_arrays, write_keras_h5
from zoo.formats import WeightFileError

pytest.importorskip("h5py")
from zoo.keras_h5 import read_keras_h5  # noqa: E402

NAMES = [n for n, _ in KERAS_LAYERS]


@pytest.mark.parametrize("style", ["flat", "nested"])
@pytest.mark.parametrize("chunk_names", [False, True])
def test_reads_both_naming_styles_and_chunked_layer_names(tmp_path, style, chunk_names):
    arrays = keras_arrays()
    path = write_keras_h5(tmp_path / "w.h5", arrays, NAMES, style, chunk_names)
    layers = read_keras_h5(path)
    assert list(layers) == ["block1_conv1", "block1_conv2", "fc1", "fc2", "predictions"]
    for name, (kernel, bias) in arrays.items():
        np.testing.assert_array_equal(layers[name][0], kernel)
        np.testing.assert_array_equal(layers[name][1], bias)


def test_full_model_file_with_model_weights_group(tmp_path):
    import h5py
    arrays = keras_arrays()
    inner = write_keras_h5(tmp_path / "inner.h5", arrays, NAMES)
    with h5py.File(inner, "r") as src, h5py.File(tmp_path / "model.h5", "w") as dst:
        src.copy(src["/"], dst, "model_weights")
        for key, value in src.attrs.items():
            dst["model_weights"].attrs[key] = value
    layers = read_keras_h5(tmp_path / "model.h5")
    np.testing.assert_array_equal(layers["fc2"][0], arrays["fc2"][0])


def test_truncated_h5_names_the_file(keras_h5, tmp_path):
    path, _ = keras_h5
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(WeightFileError, match="cut.h5.*truncated"):
        read_keras_h5(cut)


def test_missing_h5py_is_a_clear_error(keras_h5, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"needs h5py: pip install .minidl\[convert\]."):
        read_keras_h5(keras_h5[0])
