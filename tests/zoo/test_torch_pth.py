import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from zoo.formats import WeightFileError
from zoo.torch_pth import read_state_dict

torch = pytest.importorskip("torch")


def _tensors():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=g)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "transposed": base.t(),          # non-contiguous strides
        "slice": base[2:4],              # storage offset into a shared storage
        "half": torch.randn(3, generator=g).half(),
        "double": torch.randn(2, 2, generator=g, dtype=torch.float64),
        "count": torch.tensor([1, 2, 3]),
        "scalar": torch.tensor(2.5),
        "bf16": torch.randn(4, generator=g).bfloat16(),
    }


@pytest.mark.parametrize("zip_format", [True, False])
def test_reads_what_torch_saved_in_both_formats(tmp_path, zip_format):
    tensors = _tensors()
    path = tmp_path / "w.pth"
    torch.save(tensors, path, _use_new_zipfile_serialization=zip_format)
    assert zipfile.is_zipfile(path) == zip_format
    loaded = read_state_dict(path)
    assert list(loaded) == list(tensors)
    for name, tensor in tensors.items():
        expected = tensor.float().numpy() if name == "bf16" else tensor.numpy()
        assert loaded[name].shape == tuple(tensor.shape), name
        assert loaded[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(loaded[name], expected, err_msg=name)


@pytest.mark.parametrize("zip_format", [True, False])
def test_module_state_dict_with_parameters(tmp_path, zip_format):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.ReLU(), torch.nn.Linear(4, 5))
    torch.save(model.state_dict(), tmp_path / "m.pth", _use_new_zipfile_serialization=zip_format)
    loaded = read_state_dict(tmp_path / "m.pth")
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(loaded[name], tensor.numpy())


class _Evil:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _evil_pickle(marker):
    evil = _Evil()
    evil.marker = marker
    return pickle.dumps({"weight": evil}, protocol=2)


def test_pickle_naming_os_system_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_evil_pickle(marker))
    with pytest.raises(WeightFileError, match=r"refusing to load.*system") as info:
        read_state_dict(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_zip_pth_with_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", _evil_pickle(marker))
    with pytest.raises(WeightFileError, match="system"):
        read_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_file_names_itself(tmp_path, zip_format):
    path = tmp_path / "cut.pth"
    buffer = io.BytesIO()
    torch.save({"w": torch.randn(100, 100)}, buffer, _use_new_zipfile_serialization=zip_format)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(WeightFileError, match="cut.pth"):
        read_state_dict(path)
