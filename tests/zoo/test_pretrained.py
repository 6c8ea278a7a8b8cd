"""VGG16.init_pretrained: local weight files, the download + convert + cache path, errors.

The weight files are VGG16-shaped (full channel counts) and written by the tests themselves; the
input is small (64x64 or 32x32), so fc1 has 512 x 2 x 2 (or 512) inputs instead of 25088. Every
check compares against an independent computation: the network evaluated the Keras way in
NumPy (NHWC, HWC flatten, Keras kernels untouched), or PyTorch built from a .pth.
Downloads come from a local HTTP server (tests/conftest.py); nothing touches the network.
"""

import hashlib

import numpy as np
import pytest

import zoo.pretrained
from minidl.data.normalizers import NormalizerStandardize, VGG16ImagePreProcessor
from minidl.io.download import DownloadError
from minidl.nn.conf import DenseLayer, OutputLayer
from minidl.nn.conf.enums import Activation
from weight_files import write_keras_h5
from zoo import (VGG16, LeNet, MissingTopError, PretrainedType, convert, load_converted,
                 save_converted)

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
N_CLASSES = 5
NOTOP_URL_PATH = "/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


def conv_names():
    names, block, k = [], 1, 0
    for c in CFG:
        if c == "M":
            block, k = block + 1, 0
        else:
            k += 1
            names.append(f"block{block}_conv{k}")
    return names


def keras_layer_names(include_top):
    """Every layer of the Keras model in order, weightless ones included (as the real files)."""
    names, convs = ["input_1"], iter(conv_names())
    block = 1
    for c in CFG:
        if c == "M":
            names.append(f"block{block}_pool")
            block += 1
        else:
            names.append(next(convs))
    return names + (["flatten", "fc1", "fc2", "predictions"] if include_top else [])


def he(rng, shape, fan_in):
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in)))


@pytest.fixture(scope="module")
def keras_arrays():
    """Keras-layout VGG16 arrays for a 64x64 input: kernels (kh, kw, in, out), dense (in, out)."""
    rng = np.random.default_rng(0)
    arrays, n_in = {}, 3
    for name, c in zip(conv_names(), [c for c in CFG if c != "M"]):
        arrays[name] = [he(rng, (3, 3, n_in, c), 9 * n_in), rng.uniform(-0.1, 0.1, c).astype(np.float32)]
        n_in = c
    for name, (a, b) in zip(("fc1", "fc2", "predictions"), [(2048, 4096), (4096, 4096), (4096, N_CLASSES)]):
        arrays[name] = [he(rng, (a, b), a), rng.uniform(-0.1, 0.1, b).astype(np.float32)]
    return arrays


@pytest.fixture(scope="module")
def keras_files(keras_arrays, tmp_path_factory):
    """(full h5 path, notop h5 path), written once for the module."""
    folder = tmp_path_factory.mktemp("keras")
    full = write_keras_h5(folder / "vgg16_tiny_input.h5", keras_arrays, keras_layer_names(True))
    notop = write_keras_h5(folder / "vgg16_notop.h5", keras_arrays, keras_layer_names(False))
    return full, notop


def keras_forward(arrays, x_nhwc, include_top=True):
    """VGG16 the Keras way in float64 NumPy: NHWC, 'same' 3x3 convs, HWC flatten, x @ kernel."""
    x = x_nhwc.astype(np.float64)
    convs = iter(conv_names())
    for c in CFG:
        if c == "M":
            n, h, w, ch = x.shape
            x = x.reshape(n, h // 2, 2, w // 2, 2, ch).max(axis=(2, 4))
            continue
        kernel, bias = arrays[next(convs)]
        n, h, w, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        # patches [n, h, w, (a, b, c_in)] against the kernel read in the same (a, b, c_in) order
        patches = np.concatenate([padded[:, a:a + h, b:b + w, :] for a in range(3) for b in range(3)],
                                 axis=3)
        out = patches.reshape(n * h * w, -1) @ kernel.reshape(-1, kernel.shape[3]).astype(np.float64)
        x = np.maximum(out + bias, 0).reshape(n, h, w, -1)
    if not include_top:
        return x
    x = x.reshape(len(x), -1)  # H, W, C order
    x = np.maximum(x @ arrays["fc1"][0] + arrays["fc1"][1], 0)
    fc2 = np.maximum(x @ arrays["fc2"][0] + arrays["fc2"][1], 0)
    logits = fc2 @ arrays["predictions"][0] + arrays["predictions"][1]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return fc2, e / e.sum(axis=1, keepdims=True)


def assert_convs_match_keras(graph, arrays):
    for name in conv_names():
        kernel, bias = arrays[name]
        # Keras (kh, kw, n_in, n_out) -> ours [n_out, n_in, kh, kw]: W[o, i, a, b] == kernel[a, b, i, o]
        np.testing.assert_array_equal(graph.get_param(f"{name}_W"), np.einsum("abio->oiab", kernel))
        np.testing.assert_array_equal(graph.get_param(f"{name}_b"), bias)


def test_keras_h5_every_tensor_in_the_right_vertex(keras_files, keras_arrays):
    net = VGG16(input_shape=(3, 64, 64)).init_pretrained(weights=keras_files[0])
    assert_convs_match_keras(net, keras_arrays)
    np.testing.assert_array_equal(net.get_param("fc2_W"), keras_arrays["fc2"][0])
    np.testing.assert_array_equal(net.get_param("predictions_b"), keras_arrays["predictions"][1])
    # fc1's rows are permuted (HWC -> CHW): checked by evaluating both networks
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32)
    acts = net.feed_forward(x)
    fc2, probabilities = keras_forward(keras_arrays, x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(acts["fc2"], fc2, rtol=1e-3, atol=1e-4 * np.abs(fc2).max())
    np.testing.assert_allclose(acts["predictions"], probabilities, rtol=1e-3, atol=1e-5)
    assert not np.allclose(probabilities, 1 / N_CLASSES, atol=1e-3)  # the check has teeth

    predictions = net.get_layer("predictions")
    assert type(predictions) is DenseLayer and not isinstance(predictions, OutputLayer)
    assert predictions.activation == Activation.SOFTMAX and predictions.n_out == N_CLASSES
    assert net.output_names == ["predictions"] and net.input_names == ["input_1"]
    assert isinstance(net.pre_processor, VGG16ImagePreProcessor)  # caffe weights: BGR minus mean
    assert net.preprocessing["channel_order"] == "BGR"


def test_converted_npz_loads_identically(keras_files, tmp_path):
    npz = convert(keras_files[0], tmp_path / "vgg16.npz")
    from_h5 = VGG16(input_shape=(3, 64, 64)).init_pretrained(weights=keras_files[0])
    from_npz = VGG16(input_shape=(3, 64, 64)).init_pretrained(weights=npz)
    assert from_npz.param_table().keys() == from_h5.param_table().keys()
    for key, value in from_h5.param_table().items():
        np.testing.assert_array_equal(from_npz.get_param(key), value)
    assert isinstance(from_npz.pre_processor, VGG16ImagePreProcessor)
    _, metadata = load_converted(npz)
    assert metadata["source"]["sha256"] == hashlib.sha256(keras_files[0].read_bytes()).hexdigest()


def test_include_top_false_ends_at_block5_pool(keras_files, keras_arrays):
    net = VGG16(input_shape=(3, 64, 64)).init_pretrained(weights=keras_files[0], include_top=False)
    assert net.output_names == ["block5_pool"]
    assert not {"flatten", "fc1", "fc2", "predictions"} & set(net.conf.vertices)
    assert len(net.layer_items()) == 13 + 5
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    out = net.output_single(x)
    expected = keras_forward(keras_arrays, x.transpose(0, 2, 3, 1), include_top=False)
    assert out.shape == (1, 512, 2, 2)
    np.testing.assert_allclose(out, expected.transpose(0, 3, 1, 2), rtol=1e-3,
                               atol=1e-4 * np.abs(expected).max())


def test_notop_file_cannot_give_a_top(keras_files):
    with pytest.raises(MissingTopError, match="include_top=False"):
        VGG16(input_shape=(3, 64, 64)).init_pretrained(weights=keras_files[1])


def test_a_top_for_another_input_size_says_which_size_it_needs(keras_files):
    # the file's fc1 reads 2048 = 512 x 2 x 2 values: a 64x64 input's last feature map
    with pytest.raises(ValueError, match=r"VGG16: the dense top of these weights needs 64x64 "
                                         r"inputs, but input_shape is \(3, 32, 32\); use "
                                         r"include_top=False"):
        VGG16(input_shape=(3, 32, 32)).init_pretrained(weights=keras_files[0])
    net = VGG16(input_shape=(3, 32, 32)).init_pretrained(weights=keras_files[0], include_top=False)
    assert net.output_single(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 512, 1, 1)


def test_imagenet_top_needs_224_before_any_download(local_http, minidl_home, monkeypatch):
    # DL4J's pretrained VGG16 is always 224x224: another input size can only have the convs
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    model = VGG16.builder().inputShape((3, 64, 64)).build()
    with pytest.raises(ValueError, match=r"IMAGENET weights needs 224x224 inputs, but input_shape "
                                         r"is \(3, 64, 64\); use include_top=False"):
        model.initPretrained()
    assert local_http.log == [] and cache_files(minidl_home) == []


def test_weights_of_another_architecture_are_refused(keras_arrays, tmp_path):
    # a VGG19 file has every VGG16 tensor with the right shape plus block3_conv4 ...: never
    # silently drop the extra layers
    weights = {}
    for name in conv_names():
        kernel, bias = keras_arrays[name]
        weights[f"{name}_W"], weights[f"{name}_b"] = np.einsum("abio->oiab", kernel), bias
    weights["block3_conv4_W"], weights["block3_conv4_b"] = weights["block3_conv3_W"], weights["block3_conv3_b"]
    path = save_converted(tmp_path / "vgg19ish.npz", weights, {"channel_order": "BGR",
                                                               "mean": [0, 0, 0], "std": [1, 1, 1]})
    with pytest.raises(ValueError, match="block3_conv4"):
        VGG16(input_shape=(3, 32, 32)).init_pretrained(weights=path, include_top=False)


def test_torchvision_pth_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    layers, n_in = [], 3
    for c in CFG:  # torchvision's VGG16 'features' indices: conv, ReLU, ..., MaxPool
        if c == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(n_in, c, 3, padding=1), nn.ReLU()]
            n_in = c
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.classifier = nn.Sequential(nn.Linear(512, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096),
                                     nn.ReLU(), nn.Dropout(), nn.Linear(4096, N_CLASSES))
    torch.manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, (2.0 / fan_in) ** 0.5)
                module.bias.uniform_(-0.1, 0.1)
    model.eval()
    path = tmp_path / "vgg16-small.pth"
    torch.save(model.state_dict(), path)

    net = VGG16(input_shape=(3, 32, 32)).init_pretrained(weights=path)
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        logits = model.classifier(model.features(torch.from_numpy(x)).flatten(1))
        expected = torch.softmax(logits.double(), dim=1).numpy()
    np.testing.assert_allclose(net.output_single(x), expected, rtol=1e-3, atol=1e-5)
    assert not np.allclose(expected, 1 / N_CLASSES, atol=1e-3)
    np.testing.assert_array_equal(net.get_param("fc2_W"), model.classifier[3].weight.detach().numpy().T)

    # torchvision weights want RGB (x / 255 - mean) / std: the attached normalizer does that
    assert isinstance(net.pre_processor, NormalizerStandardize)
    assert net.preprocessing["channel_order"] == "RGB"
    mean, std = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255
    image = np.broadcast_to((mean + std)[None, :, None, None], (1, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(net.pre_processor.transform(image), 1.0, rtol=1e-5)


# -- the download path --------------------------------------------------------------------------

@pytest.fixture
def served_notop(keras_files, local_http, minidl_home, monkeypatch):
    """The notop file served at the Keras path on the local server; SOURCES gives its md5."""
    data = keras_files[1].read_bytes()
    local_http.add(NOTOP_URL_PATH, data)
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    url = zoo.pretrained.KERAS_BASE + NOTOP_URL_PATH
    monkeypatch.setitem(zoo.pretrained.SOURCES, ("vgg16", False), (url, hashlib.md5(data).hexdigest()))
    return local_http


def cache_files(home):
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


def _refuse(*args, **kwargs):
    raise AssertionError("a cached load must not download or convert")


def test_download_checks_converts_caches_then_loads_from_cache(served_notop, minidl_home,
                                                               keras_arrays, monkeypatch):
    model = VGG16(input_shape=(3, 32, 32))
    first = model.init_pretrained(PretrainedType.IMAGENET, include_top=False, progress=False)
    assert [entry[2] for entry in served_notop.log] == [200]
    cached = zoo.pretrained.cached_path("vgg16", PretrainedType.IMAGENET, include_top=False)
    # the download is gone once converted: only the converted weights stay in the cache
    assert cache_files(minidl_home) == [cached.relative_to(minidl_home).as_posix()]
    assert_convs_match_keras(first, keras_arrays)
    assert isinstance(first.pre_processor, VGG16ImagePreProcessor)
    mtime = cached.stat().st_mtime_ns

    monkeypatch.setattr(zoo.pretrained, "convert", _refuse)
    monkeypatch.setattr(zoo.pretrained, "download", _refuse)
    second = model.initPretrained(PretrainedType.IMAGENET, include_top=False)  # DL4J spelling too
    assert len(served_notop.log) == 1 and cached.stat().st_mtime_ns == mtime
    for key, value in first.param_table().items():
        np.testing.assert_array_equal(second.get_param(key), value)


def test_wrong_md5_leaves_no_file(served_notop, minidl_home, monkeypatch):
    url, _ = zoo.pretrained.SOURCES[("vgg16", False)]
    monkeypatch.setitem(zoo.pretrained.SOURCES, ("vgg16", False), (url, "0" * 32))
    with pytest.raises(DownloadError, match="(?i)checksum|md5"):
        VGG16(input_shape=(3, 32, 32)).init_pretrained(include_top=False, progress=False)
    assert cache_files(minidl_home) == []


def test_missing_file_on_server_names_url_and_cache(local_http, minidl_home, monkeypatch):
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    with pytest.raises(DownloadError) as error:
        VGG16(input_shape=(3, 32, 32)).init_pretrained(include_top=False, progress=False)
    assert local_http.url(NOTOP_URL_PATH) in str(error.value) and str(minidl_home) in str(error.value)
    assert cache_files(minidl_home) == []


def test_unavailable_pretrained_types_are_refused_before_any_download(local_http, minidl_home,
                                                                      monkeypatch):
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    with pytest.raises(ValueError, match=r"CIFAR10 weights are not available for VGG16 \(available: IMAGENET\)"):
        VGG16().init_pretrained(PretrainedType.CIFAR10)
    with pytest.raises(ValueError, match=r"not available for LeNet \(available: none\)"):
        LeNet().init_pretrained(PretrainedType.MNIST)
    assert local_http.log == [] and cache_files(minidl_home) == []


def test_no_top_is_served_by_the_cached_full_file_without_a_request(keras_files, keras_arrays,
                                                                    local_http, minidl_home,
                                                                    monkeypatch):
    # The full file holds every conv block: asking for the no-top network afterwards must not
    # download the no-top file (offline it could not).
    monkeypatch.setenv(zoo.pretrained.BASE_URL_VARIABLE, local_http.url(""))
    full = zoo.pretrained.cached_path("vgg16", PretrainedType.IMAGENET, include_top=True)
    full.parent.mkdir(parents=True)
    convert(keras_files[0], full)
    monkeypatch.setattr(zoo.pretrained, "download", _refuse)

    net = VGG16(input_shape=(3, 32, 32)).init_pretrained(include_top=False, progress=False)
    assert local_http.log == []
    assert net.output_names == ["block5_pool"]
    assert_convs_match_keras(net, keras_arrays)
    assert cache_files(minidl_home) == [full.relative_to(minidl_home).as_posix()]


def test_no_top_prefers_its_own_cached_file(keras_files, minidl_home, monkeypatch):
    notop = zoo.pretrained.cached_path("vgg16", PretrainedType.IMAGENET, include_top=False)
    full = zoo.pretrained.cached_path("vgg16", PretrainedType.IMAGENET, include_top=True)
    notop.parent.mkdir(parents=True)
    convert(keras_files[1], notop)
    full.write_bytes(b"not read")  # reading it would raise WeightFileError
    monkeypatch.setattr(zoo.pretrained, "download", _refuse)
    net = VGG16(input_shape=(3, 32, 32)).init_pretrained(include_top=False)
    assert net.output_names == ["block5_pool"]
