import hashlib
import json

import numpy as np
import pytest

from weight_files import keras_arrays, write_keras_h5
from zoo import WeightFileError, convert, load_converted, load_weights, vgg_vertex_names
from zoo.converters import chw_rows_from_hwc

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _keras_forward(arrays, x_nhwc):
    """The tiny net evaluated the Keras way: NHWC, kernels (kh, kw, in, out), HWC flatten."""
    def conv_same(x, kernel, bias):
        n, h, w, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((n, h, w, kernel.shape[3]))
        for a in range(3):
            for b in range(3):
                out += padded[:, a:a + h, b:b + w, :] @ kernel[a, b]
        return np.maximum(out + bias, 0)

    x = conv_same(x_nhwc, *arrays["block1_conv1"])
    x = conv_same(x, *arrays["block1_conv2"])
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))       # 2x2 max pool
    x = x.reshape(n, -1)                                               # H, W, C flatten
    x = np.maximum(x @ arrays["fc1"][0] + arrays["fc1"][1], 0)
    x = np.maximum(x @ arrays["fc2"][0] + arrays["fc2"][1], 0)
    return x @ arrays["predictions"][0] + arrays["predictions"][1]


def _our_forward(weights, x_nchw, convs=("block1_conv1", "block1_conv2"), pools_after=(1,)):
    """The same net in our layouts: NCHW, W [out, in, kh, kw], CHW flatten, dense x @ W."""
    t = lambda a: torch.from_numpy(np.asarray(a, np.float64))  # noqa: E731
    x = t(x_nchw)
    for i, name in enumerate(convs):
        x = F.relu(F.conv2d(x, t(weights[f"{name}_W"]), t(weights[f"{name}_b"]), padding=1))
        if i in pools_after:
            x = F.max_pool2d(x, 2)
    x = x.flatten(1)                                                   # C, H, W flatten
    x = F.relu(x @ t(weights["fc1_W"]) + t(weights["fc1_b"]))
    x = F.relu(x @ t(weights["fc2_W"]) + t(weights["fc2_b"]))
    return (x @ t(weights["predictions_W"]) + t(weights["predictions_b"])).numpy()


def test_keras_weights_give_the_same_outputs_in_our_layout(keras_h5):
    path, arrays = keras_h5
    weights, metadata = load_weights(path)
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3))
    expected = _keras_forward(arrays, x)
    np.testing.assert_allclose(_our_forward(weights, x.transpose(0, 3, 1, 2)), expected, rtol=1e-9)
    assert weights["block1_conv1_W"].shape == (4, 3, 3, 3) and weights["fc1_W"].shape == (16, 6)
    assert metadata["channel_order"] == "BGR"
    assert metadata["mean"] == [103.939, 116.779, 123.68] and metadata["std"] == [1.0, 1.0, 1.0]
    assert metadata["source"] == {"file": "tiny_vgg.h5", "format": "keras_h5",
                                  "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_fc1_permutation_is_not_the_identity(keras_h5):
    # guard: with the HWC rows left unpermuted the outputs must differ, or the test above proves nothing
    path, arrays = keras_h5
    weights, _ = load_weights(path)
    unpermuted = dict(weights, fc1_W=arrays["fc1"][0])
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3))
    assert not np.allclose(_our_forward(unpermuted, x.transpose(0, 3, 1, 2)), _keras_forward(arrays, x))


def test_hwc_to_chw_rows_by_index_formula():
    h = w = 3
    c, n_out = 2, 1
    W = np.arange(h * w * c, dtype=np.float64).reshape(-1, n_out)       # row value = HWC index
    out = chw_rows_from_hwc(W, c)
    for ci in range(c):
        for hi in range(h):
            for wi in range(w):
                assert out[ci * h * w + hi * w + wi, 0] == (hi * w + wi) * c + ci


class _TinyTorchVgg(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3, padding=1),
            torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(32, 6), torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(6, 6),
            torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(6, 3))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


@pytest.mark.parametrize("zip_format", [True, False])
def test_torchvision_weights_match_the_torch_model(tmp_path, zip_format):
    torch.manual_seed(0)
    model = _TinyTorchVgg().double().eval()
    path = tmp_path / "tiny-vgg.pth"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=zip_format)
    weights, metadata = load_weights(path)
    assert list(weights)[::2] == ["block1_conv1_W", "block1_conv2_W", "block2_conv1_W", "fc1_W",
                                  "fc2_W", "predictions_W"]
    assert weights["fc1_W"].shape == (32, 6)  # [n_in, n_out]
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    ours = _our_forward(weights, x, convs=("block1_conv1", "block1_conv2", "block2_conv1"),
                        pools_after=(1, 2))
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    assert metadata["channel_order"] == "RGB" and metadata["source"]["format"] == "torchvision_pth"
    np.testing.assert_allclose(metadata["mean"], [123.675, 116.28, 103.53])


def test_vgg16_shaped_torchvision_file_gets_dl4j_names(tmp_path):
    layers, n_in = [], 3
    for v in [2, 2, "M", 2, 2, "M", 2, 2, 2, "M", 2, 2, 2, "M", 2, 2, 2, "M"]:  # VGG16 cfg, 2 channels
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(n_in, v, 3, padding=1), torch.nn.ReLU()]
            n_in = v
    state = {f"features.{k}": v for k, v in torch.nn.Sequential(*layers).state_dict().items()}
    for index, (a, b) in zip((0, 3, 6), ((2, 4), (4, 4), (4, 5))):
        linear = torch.nn.Linear(a, b)
        state[f"classifier.{index}.weight"], state[f"classifier.{index}.bias"] = linear.weight, linear.bias
    torch.save(state, tmp_path / "vgg16.pth")
    weights, metadata = load_weights(tmp_path / "vgg16.pth")
    assert metadata["vertices"] == vgg_vertex_names("vgg16")
    assert metadata["architecture"] == "vgg16" and metadata["include_top"] is True


def test_vgg16_notop_keras_file_is_recognised(tmp_path):
    names = vgg_vertex_names("vgg16", include_top=False)
    layers = [(n, (3, 3, 2, 2)) for n in names]
    path = write_keras_h5(tmp_path / "notop.h5", keras_arrays(0, layers), names, style="nested")
    weights, metadata = load_weights(path)
    assert metadata["architecture"] == "vgg16" and metadata["include_top"] is False
    assert len(weights) == 26


def test_convert_writes_npz_that_loads_identically(keras_h5, tmp_path):
    path, _ = keras_h5
    out = convert(path, tmp_path / "converted.npz")
    direct, meta_direct = load_weights(path)
    loaded, meta_loaded = load_weights(out)
    assert list(loaded) == list(direct)
    for key in direct:
        np.testing.assert_array_equal(loaded[key], direct[key])
    assert meta_loaded["format"] == "minidl.weights" and meta_loaded["source"] == meta_direct["source"]
    with np.load(out, allow_pickle=False) as archive:  # readable with pickle disabled
        assert json.loads(str(archive["__metadata__"]))["architecture"] == "vgg-like"
    assert convert(path) == path.with_suffix(".npz")


def test_load_converted_reads_only_the_kept_arrays(keras_h5, tmp_path):
    out = convert(keras_h5[0], tmp_path / "converted.npz")
    everything, _ = load_converted(out)
    convs, metadata = load_converted(out, keep=lambda name: name.startswith("block"))
    assert sorted(convs) == ["block1_conv1_W", "block1_conv1_b", "block1_conv2_W", "block1_conv2_b"]
    assert len(everything) == 10 and metadata["source"]["format"] == "keras_h5"


def test_truncated_npz_names_the_file(keras_h5, tmp_path):
    out = convert(keras_h5[0], tmp_path / "w.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(out.read_bytes()[:1000])
    with pytest.raises(WeightFileError, match="cut.npz"):
        load_weights(cut)
    with pytest.raises(WeightFileError, match="cut.npz"):
        load_converted(cut)


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"hello world")
    with pytest.raises(WeightFileError, match="not a Keras .h5, a torch .pth or a minidl .npz"):
        load_weights(tmp_path / "x.bin")
    with pytest.raises(WeightFileError, match="no such weight file"):
        load_weights(tmp_path / "absent.h5")
