"""Image loading with Pillow, shaped the way DL4J's ``NativeImageLoader`` shapes it.

``NativeImageLoader(height, width, channels).as_matrix(image)`` returns float32
``[1, channels, height, width]`` with values 0..255 (no scaling; preprocessors such as
``VGG16ImagePreProcessor`` do that later). Channels are in **BGR** order by default, because
DL4J decodes with OpenCV, whose native order is BGR, and the VGG16 ImageNet weights expect BGR.
"""

import os

import numpy as np
from PIL import Image, ImageOps

from minidl.naming import Dl4jNames

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


class ImageDecodeError(ValueError):
    """An image file that Pillow cannot decode (corrupt, truncated, or not an image)."""


class NativeImageLoader(Dl4jNames):
    """Loads an image into a float32 ``[1, channels, height, width]`` array, values 0..255.

    ``channels`` is 1 (grayscale), 3 (colour) or 4 (colour + alpha). ``channel_order`` is "BGR"
    (DL4J's, the default) or "RGB"; with 4 channels alpha stays last (BGRA / RGBA).

    Conversions: grayscale, palette (P), CMYK, YCbCr, LA/RGBA (alpha dropped for 1 and 3
    channels; DL4J also drops it) become the requested channels; 16-bit images (I;16, I) are
    scaled 0..65535 -> 0..255 so every image shares one range (DL4J keeps OpenCV's raw depth);
    the EXIF orientation tag is applied first, so a photo stored sideways loads upright.

    Resizing: like DL4J, the image is stretched to exactly ``height x width`` with bilinear
    interpolation whenever its size differs; the aspect ratio is not preserved and nothing is
    cropped (DL4J's ``centerCropIfNeeded`` is off by default). DL4J uses OpenCV INTER_LINEAR,
    which does not low-pass filter when shrinking; Pillow's BILINEAR does (it widens the kernel),
    so large downscales differ slightly from DL4J's pixels but alias less.
    """

    def __init__(self, height, width, channels=3, *, channel_order="BGR"):
        if channels not in (1, 3, 4):
            raise ValueError(f"NativeImageLoader: channels must be 1, 3 or 4, got {channels}")
        if channel_order.upper() not in ("BGR", "RGB"):
            raise ValueError(f"NativeImageLoader: channel_order must be 'BGR' or 'RGB', "
                             f"got {channel_order!r}")
        self.height, self.width, self.channels = int(height), int(width), channels
        self.channel_order = channel_order.upper()

    def as_matrix(self, image):
        """``image``: a path, a binary file object or a PIL image -> float32 [1, c, h, w]."""
        pixels = self.as_hwc(image)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))[np.newaxis]

    def as_hwc(self, image):
        """The same pixels as a float32 [h, w, c] array (channel order applied)."""
        pil = open_image(image)
        pil = ImageOps.exif_transpose(pil)
        pil = self._convert_mode(pil)
        if pil.size != (self.width, self.height):
            pil = pil.resize((self.width, self.height), Image.BILINEAR)
        pixels = np.asarray(pil, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        if self.channels >= 3 and self.channel_order == "BGR":
            pixels = pixels[:, :, [2, 1, 0, 3][:self.channels]]
        return pixels

    def _convert_mode(self, pil):
        if pil.mode in _SIXTEEN_BIT_MODES or pil.mode == "F":
            pil = _high_depth_to_float(pil)
            if self.channels == 1:
                return pil
            pil = Image.fromarray(np.asarray(pil).round().astype(np.uint8))
        target = {1: "L", 3: "RGB", 4: "RGBA"}[self.channels]
        if pil.mode == target:
            return pil
        if pil.mode == "CMYK" and self.channels != 3:
            pil = pil.convert("RGB")  # Pillow converts CMYK only to RGB-like modes: go through RGB
        return pil.convert(target)


def _high_depth_to_float(pil):
    """16-bit or 32-bit-int grayscale -> mode "F" in 0..255; float images are clipped to 0..255."""
    values = np.asarray(pil, dtype=np.float64)
    if pil.mode != "F":
        values = values / 257.0  # 65535 / 257 == 255
    return Image.fromarray(np.clip(values, 0, 255).astype(np.float32))


def open_image(image):
    """A fully decoded PIL image from a path, a file object or a PIL image.

    Decoding happens here (``load()``), so a corrupt or truncated file fails now with an
    ``ImageDecodeError`` that names it, not later inside some array conversion.
    """
    if isinstance(image, Image.Image):
        return image
    name = os.fspath(image) if isinstance(image, (str, os.PathLike)) else getattr(image, "name", repr(image))
    try:
        pil = Image.open(image)
        pil.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageDecodeError(f"cannot decode image {name}: {error}") from error
    return pil
