"""Fixtures for the weight-file tests (helpers in weight_files.py)."""

import pytest

from weight_files import KERAS_LAYERS, keras_arrays, write_keras_h5


@pytest.fixture
def keras_h5(tmp_path):
    arrays = keras_arrays()
    path = write_keras_h5(tmp_path / "tiny_vgg.h5", arrays, [n for n, _ in KERAS_LAYERS])
    return path, arrays
