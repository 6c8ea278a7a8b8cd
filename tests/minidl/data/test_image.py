import io

import numpy as np
import pytest
from PIL import Image

from minidl.data.image import BaseImageLoader, ImageDecodeError, NativeImageLoader


def _two_colour(width=4, height=2, left=(255, 0, 0), right=(0, 0, 255), split=None):
    """An RGB image whose columns < split are ``left`` and the rest ``right``."""
    pixels = np.zeros((height, width, 3), np.uint8)
    split = width // 2 if split is None else split
    pixels[:, :split] = left
    pixels[:, split:] = right
    return Image.fromarray(pixels)


def test_bgr_by_default_and_nchw_layout():
    image = _two_colour(left=(10, 20, 30), right=(40, 50, 60))
    out = NativeImageLoader(2, 4).as_matrix(image)
    assert out.shape == (1, 3, 2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :, 1, 0], [30, 20, 10])   # B, G, R of the left half
    np.testing.assert_array_equal(out[0, :, 0, 3], [60, 50, 40])


def test_rgb_option():
    out = NativeImageLoader(2, 4, channel_order="RGB").as_matrix(_two_colour(left=(10, 20, 30)))
    np.testing.assert_array_equal(out[0, :, 0, 0], [10, 20, 30])


def _uniform(mode, value, size=(3, 2)):
    return Image.new(mode, size, value)


@pytest.mark.parametrize("image, expected_bgr", [
    (_uniform("L", 77), [77, 77, 77]),
    (_uniform("1", 1), [255, 255, 255]),
    (_uniform("LA", (90, 0)), [90, 90, 90]),
    (_uniform("RGBA", (10, 20, 30, 0)), [30, 20, 10]),       # alpha dropped, colour kept
    (_uniform("CMYK", (0, 0, 0, 0)), [255, 255, 255]),        # no ink: white
    (_uniform("CMYK", (255, 0, 0, 0)), [255, 255, 0]),        # full cyan: G and B only
])
def test_colour_modes_convert_to_three_channels(image, expected_bgr):
    out = NativeImageLoader(2, 3, 3).as_matrix(image)
    assert out.shape == (1, 3, 2, 3)
    np.testing.assert_array_equal(out[0, :, 0, 0], expected_bgr)
    assert np.ptp(out, axis=(2, 3)).max() == 0  # every pixel equal


def test_palette_image_looks_up_its_colours():
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 0), 1)
    out = NativeImageLoader(1, 2).as_matrix(image)
    np.testing.assert_array_equal(out[0, :, 0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out[0, :, 0, 1], [50, 100, 200])


def test_sixteen_bit_grayscale_is_scaled_to_0_255():
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    out = NativeImageLoader(1, 3, channels=1).as_matrix(image)
    np.testing.assert_allclose(out[0, 0, 0], [0, 100, 255])
    colour = NativeImageLoader(1, 3, 3).as_matrix(image)
    np.testing.assert_allclose(colour[0, :, 0, 2], [255, 255, 255])


def test_sixteen_bit_png_file(tmp_path):
    values = np.array([[1000, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    out = NativeImageLoader(1, 2, channels=1).as_matrix(tmp_path / "deep.png")
    np.testing.assert_allclose(out[0, 0, 0], [1000 / 257, 255], atol=1e-4)


def test_grayscale_output_uses_luma():
    out = NativeImageLoader(1, 1, channels=1).as_matrix(_uniform("RGB", (200, 100, 50), (1, 1)))
    assert out.shape == (1, 1, 1, 1)
    assert abs(out[0, 0, 0, 0] - (0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 1


def test_four_channels_keep_alpha_last():
    out = NativeImageLoader(1, 1, channels=4).as_matrix(_uniform("RGBA", (10, 20, 30, 40), (1, 1)))
    np.testing.assert_array_equal(out[0, :, 0, 0], [30, 20, 10, 40])


def test_resize_stretches_without_crop():
    # 10 wide x 4 high, only the 2 leftmost columns red. Stretched to 8x8 the first column is
    # still red; a centre crop (DL4J's optional centerCropIfNeeded) would have cut it away.
    image = _two_colour(width=10, height=4, left=(255, 0, 0), right=(0, 0, 255), split=2)
    out = NativeImageLoader(8, 8, channel_order="RGB").as_matrix(image)
    assert out.shape == (1, 3, 8, 8)
    assert out[0, 0, :, 0].min() > 200 and out[0, 2, :, 0].max() < 55
    assert out[0, 2, :, 7].min() == 255


def test_exif_orientation_is_applied(tmp_path):
    image = _two_colour(width=4, height=2, left=(255, 0, 0), right=(0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "rotated.png", exif=exif)
    out = NativeImageLoader(4, 2, channel_order="RGB").as_matrix(tmp_path / "rotated.png")
    # displayed upright the image is 2 wide, 4 high: red (the old left) on top after a CW turn
    np.testing.assert_array_equal(out[0, :, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, :, 3, 1], [0, 0, 255])


def test_path_and_file_object_give_the_same_pixels(tmp_path):
    _two_colour().save(tmp_path / "a.png")
    loader = NativeImageLoader(2, 4)
    with open(tmp_path / "a.png", "rb") as f:
        from_file = loader.as_matrix(f)
    np.testing.assert_array_equal(loader.as_matrix(tmp_path / "a.png"), from_file)
    np.testing.assert_array_equal(loader.as_matrix(str(tmp_path / "a.png")), from_file)


def test_truncated_jpeg_names_the_file(tmp_path):
    buffer = io.BytesIO()
    _two_colour(64, 64).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[:300])
    with pytest.raises(ImageDecodeError, match="cut.jpg"):
        NativeImageLoader(8, 8).as_matrix(tmp_path / "cut.jpg")


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels must be 1, 3, 4 or None"):
        NativeImageLoader(8, 8, channels=2)
    with pytest.raises(ValueError, match="channel_order"):
        NativeImageLoader(8, 8, channel_order="GBR")
    with pytest.raises(ValueError, match="height must be >= 1"):
        NativeImageLoader(0, 8)


def test_no_arguments_keep_the_images_own_size_and_channels():
    # DL4J's NativeImageLoader(): no scaling, no conversion; (h, w) alone keeps the channels
    loader = NativeImageLoader()
    assert loader.as_matrix(_uniform("RGB", (1, 2, 3), (5, 3))).shape == (1, 3, 3, 5)
    assert loader.as_matrix(_uniform("L", 9, (4, 2))).shape == (1, 1, 2, 4)
    assert loader.as_matrix(_uniform("RGBA", (1, 2, 3, 4), (2, 2))).shape == (1, 3, 2, 2)
    assert NativeImageLoader(6, 7).as_matrix(_uniform("L", 9)).shape == (1, 1, 6, 7)
    np.testing.assert_array_equal(loader.as_matrix(_uniform("RGB", (1, 2, 3)))[0, :, 0, 0],
                                  [3, 2, 1])


def test_numpy_array_channels_are_taken_in_the_loaders_order():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 50, 100, 200  # blue 50, green 100, red 200
    out = NativeImageLoader().as_matrix(bgr)  # like DL4J's asMatrix(Mat): BGR in, BGR out
    assert out.shape == (1, 3, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0].transpose(1, 2, 0), bgr)
    rgb = bgr[..., ::-1]
    from_rgb = NativeImageLoader(channel_order="RGB").as_matrix(rgb)
    np.testing.assert_array_equal(from_rgb, out[:, ::-1])
    gray = NativeImageLoader(channels=1).as_matrix(bgr)  # luma needs red told from blue
    assert abs(gray[0, 0, 0, 0] - (0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 1
    assert NativeImageLoader(4, 4).as_matrix(np.full((2, 2), 7, np.uint8)).shape == (1, 1, 4, 4)
    alpha = NativeImageLoader(channels=4).as_matrix(np.array([[[1, 2, 3, 4]]], np.uint8))
    np.testing.assert_array_equal(alpha[0, :, 0, 0], [1, 2, 3, 4])
    for bad in (np.zeros((2, 2), np.float32), np.zeros((2, 2, 2), np.uint8)):
        with pytest.raises(ValueError, match=r"uint8 \[height, width\]"):
            NativeImageLoader().as_matrix(bad)


def test_missing_file_is_file_not_found_not_a_decode_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.png") as caught:
        NativeImageLoader(8, 8).as_matrix(tmp_path / "nowhere.png")
    assert not isinstance(caught.value, ImageDecodeError)


def test_allowed_formats_are_datavecs_lists():
    assert BaseImageLoader.ALLOWED_FORMATS == (
        "tif", "jpg", "png", "jpeg", "bmp", "JPEG", "JPG", "TIF", "PNG")
    native = NativeImageLoader.ALLOWED_FORMATS
    assert len(native) == 28 and {"gif", "jp2", "webp", "exr", "TIFF", "PNM"} <= set(native)
    assert set(native[14:]) == {ext.upper() for ext in native[:14]}
    assert issubclass(NativeImageLoader, BaseImageLoader)
    assert NativeImageLoader(8, 8).getAllowedFormats() == list(native)


# -- reduced ("draft") JPEG decoding -------------------------------------------------------------
def _photo(width, height, seed=0):
    """Photo-like RGB content (smooth shading, blotches, grain): JPEG keeps it only
    approximately, as it does a photograph, unlike flat colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    shading = np.stack([128 + 90 * np.sin(6 * x + 2 * y), 128 + 80 * np.cos(5 * y - 3 * x),
                        128 + 70 * np.sin(4 * (x + y))], axis=-1)
    blotches = np.kron(rng.uniform(-50, 50, (height // 16 + 1, width // 16 + 1, 3)),
                       np.ones((16, 16, 1)))[:height, :width]
    grain = rng.normal(0, 10, (height, width, 3))
    return Image.fromarray(np.clip(shading + blotches + grain, 0, 255).astype(np.uint8))


def _jpeg(path, width, height, exif=None):
    _photo(width, height).save(path, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    return path


def _decoded_size(loader, path):
    """(width, height) and mode the loader's decoder produces for ``path``, before resizing."""
    from minidl.data.image import _open
    pil, _ = _open(path, loader._prepare_decode)
    return pil.size, pil.mode


def _full_decode_resized(path, width, height, mode="RGB"):
    """The reference: every pixel decoded by Pillow, turned upright, then resized."""
    from PIL import ImageOps
    pil = ImageOps.exif_transpose(Image.open(path)).convert(mode)
    pixels = np.asarray(pil.resize((width, height), Image.BILINEAR), np.float32)
    return pixels if pixels.ndim == 3 else pixels[:, :, np.newaxis]


def test_a_much_larger_jpeg_is_decoded_at_the_largest_scale_keeping_twice_the_target(tmp_path):
    path = _jpeg(tmp_path / "big.jpg", 1800, 1200)
    # 1800 / (2 * 150) = 6 and 1200 / (2 * 100) = 6: 1/4 is the largest of 1/2, 1/4, 1/8 with
    # both sides still >= twice the target (1/8 would give 225 x 150, under 300 x 200)
    assert _decoded_size(NativeImageLoader(100, 150, 3), path) == ((450, 300), "RGB")
    assert _decoded_size(NativeImageLoader(60, 60, 3), path) == ((225, 150), "RGB")  # 1/8
    out = NativeImageLoader(100, 150, 3).as_matrix(path)
    assert out.shape == (1, 3, 100, 150) and out.dtype == np.float32
    assert NativeImageLoader(100, 150, 1).as_matrix(path).shape == (1, 1, 100, 150)


def test_draft_is_not_used_where_it_should_not_be(tmp_path):
    big = _jpeg(tmp_path / "big.jpg", 1800, 1200)
    modest = _jpeg(tmp_path / "modest.jpg", 500, 375)  # a flower photo: under 4x the target
    small = _jpeg(tmp_path / "small.jpg", 120, 90)
    _photo(1800, 1200).save(tmp_path / "big.png")
    assert _decoded_size(NativeImageLoader(224, 224, 3), modest) == ((500, 375), "RGB")
    assert _decoded_size(NativeImageLoader(224, 224, 3), small) == ((120, 90), "RGB")  # no upscale
    assert _decoded_size(NativeImageLoader(100, 150, 3, draft=False), big)[0] == (1800, 1200)
    assert _decoded_size(NativeImageLoader(100, 150, 3), tmp_path / "big.png")[0] == (1800, 1200)
    assert _decoded_size(NativeImageLoader(), big)[0] == (1800, 1200)  # own size: no target
    # only one side much larger is not enough: 1800 / 448 = 4 but 1200 / 1000 = 1
    assert _decoded_size(NativeImageLoader(500, 224, 3), big)[0] == (1800, 1200)
    for path in (modest, small):  # decoded in full, the result is the plain decode + resize
        np.testing.assert_allclose(NativeImageLoader(224, 224, channel_order="RGB").as_hwc(path),
                                   _full_decode_resized(path, 224, 224), atol=1)
    assert NativeImageLoader().decode_mode == "draft"
    assert NativeImageLoader(draft=False).decode_mode == "full"


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (1, "L")])
def test_draft_decode_and_resize_is_close_to_a_full_decode_and_resize(tmp_path, channels, mode):
    path = _jpeg(tmp_path / "big.jpg", 2000, 1500)
    reference = _full_decode_resized(path, 224, 224, mode)
    drafted = NativeImageLoader(224, 224, channels, channel_order="RGB").as_hwc(path)
    full = NativeImageLoader(224, 224, channels, channel_order="RGB", draft=False).as_hwc(path)
    np.testing.assert_allclose(full, reference, atol=1)  # draft=False: the plain pipeline
    difference = np.abs(drafted - reference)
    assert difference.mean() < 1.5 and difference.max() <= 16  # of 0..255
    assert difference.mean() > 0  # (the two decodes really differ: draft was used)


def test_draft_decode_of_a_sideways_photo_turns_it_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 1800 wide x 1200 high, shown 1200 wide x 1800 high
    path = _jpeg(tmp_path / "sideways.jpg", 1800, 1200, exif=exif)
    loader = NativeImageLoader(150, 100, 3, channel_order="RGB")  # upright: 100 wide, 150 high
    assert _decoded_size(loader, path)[0] == (450, 300)  # the target, turned, drafted at 1/4
    reference = _full_decode_resized(path, 100, 150)
    drafted = loader.as_hwc(path)
    assert drafted.shape == reference.shape == (150, 100, 3)
    assert np.abs(drafted - reference).mean() < 1.5
    full = NativeImageLoader(150, 100, 3, channel_order="RGB", draft=False).as_hwc(path)
    np.testing.assert_allclose(full, reference, atol=1)
