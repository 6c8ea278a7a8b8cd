"""Image loading with Pillow, shaped the way DL4J's ``NativeImageLoader`` shapes it.

``NativeImageLoader(height, width, channels).as_matrix(image)`` returns float32
``[1, channels, height, width]`` with values 0..255 (no scaling; preprocessors such as
``VGG16ImagePreProcessor`` do that later). Channels are in **BGR** order by default, because
DL4J decodes with OpenCV, whose native order is BGR, and the VGG16 ImageNet weights expect BGR.
``NativeImageLoader()`` keeps each image's own size and channels, as DL4J's does.
"""

import os

import numpy as np
from PIL import Image, ImageOps

from minidl.naming import Dl4jNames

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
# Modes with one colour band (alpha aside): an image's own channel count is 1 for these, else 3.
_GRAY_MODES = {"1", "L", "LA", "La", "F"} | _SIXTEEN_BIT_MODES
_ARRAY_CHANNELS = (1, 3, 4)

# JPEG decoders can scale by 1/2, 1/4 or 1/8 inside the inverse DCT, skipping most of the work
# for a photo much larger than the target. As Pillow's thumbnail() (reducing_gap=2), the reduced
# image stays at least DRAFT_GAP times the target, so the bilinear resize after it still sees
# several pixels per output pixel and the result stays close to a full decode + resize.
DRAFT_GAP = 2
_DRAFT_FORMATS = ("JPEG", "MPO")  # the formats whose Pillow plugin implements draft()
_ORIENTATION = 0x0112  # the EXIF tag
# EXIF orientation -> the transpose that shows the image upright (ImageOps.exif_transpose's);
# files are resized in their stored orientation (where the draft box lies), then turned.
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_SWAPS_AXES = {Image.Transpose.TRANSPOSE, Image.Transpose.ROTATE_270,
               Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90}


class ImageDecodeError(ValueError):
    """An image file that Pillow cannot decode (corrupt, truncated, or not an image)."""


class BaseImageLoader(Dl4jNames):
    """What every DL4J image loader shares: the file extensions it lists images by.

    ``ALLOWED_FORMATS`` is DataVec's ``BaseImageLoader.ALLOWED_FORMATS`` (the list DL4J's
    transfer-learning examples pass to ``FileSplit``); a subclass may allow more.
    Extensions match case-sensitively, as in DataVec, which is why both cases are listed.
    """

    ALLOWED_FORMATS = ("tif", "jpg", "png", "jpeg", "bmp", "JPEG", "JPG", "TIF", "PNG")

    def get_allowed_formats(self):
        """This loader's ``ALLOWED_FORMATS`` (DL4J's ``getAllowedFormats()``)."""
        return list(type(self).ALLOWED_FORMATS)


class NativeImageLoader(BaseImageLoader):
    """Loads an image into a float32 ``[1, channels, height, width]`` array, values 0..255.

    ``height``/``width`` None (the default, as DL4J's ``NativeImageLoader()``) keep the image's
    own size. ``channels`` is 1 (grayscale), 3 (colour), 4 (colour + alpha) or None: the
    image's own, 1 for grayscale and 3 otherwise (alpha dropped, as OpenCV's ANYCOLOR read
    does). ``channel_order`` is "BGR" (DL4J's, the default) or "RGB"; with 4 channels alpha
    stays last (BGRA / RGBA).

    ``as_matrix`` takes a path, a binary file object, a PIL image or a NumPy uint8 array
    ``[h, w]`` / ``[h, w, c]`` (DL4J's ``asMatrix(Mat)``): like an OpenCV ``Mat``, an array's
    channels are taken as they are, i.e. in the loader's ``channel_order`` (BGR by default,
    what ``cv2`` gives; use ``channel_order="RGB"`` for arrays from Pillow or imageio).

    Conversions: grayscale, palette (P), CMYK, YCbCr, LA/RGBA (alpha dropped for 1 and 3
    channels; DL4J also drops it) become the requested channels; 16-bit images (I;16, I) are
    scaled 0..65535 -> 0..255 so every image shares one range (DL4J keeps OpenCV's raw depth);
    the EXIF orientation tag is applied first, so a photo stored sideways loads upright.

    Resizing: like DL4J, the image is stretched to exactly ``height x width`` with bilinear
    interpolation whenever its size differs; the aspect ratio is not preserved and nothing is
    cropped (DL4J's ``centerCropIfNeeded`` is off by default). DL4J uses OpenCV INTER_LINEAR,
    which does not low-pass filter when shrinking; Pillow's BILINEAR does (it widens the kernel),
    so large downscales differ slightly from DL4J's pixels but alias less.

    Reduced decoding (``draft=True``, the default): a JPEG file at least ``2 * DRAFT_GAP``
    times the target in both directions is decoded at 1/2, 1/4 or 1/8 scale (Pillow's
    ``Image.draft``, done inside the JPEG decoder), keeping at least ``DRAFT_GAP`` (2) times the
    target, then resized as above: a 4000x3000 photo loads for 224x224 several times faster,
    with pixels within a few levels of a full decode + resize. Other formats, smaller JPEGs,
    PIL images and arrays are decoded in full, and nothing is ever upscaled by it.
    ``draft=False`` decodes every pixel; ``decode_mode`` says which.
    """

    # DataVec's NativeImageLoader.ALLOWED_FORMATS: what OpenCV decodes. Pillow reads all of
    # them but EXR (and JPEG 2000 only when built with OpenJPEG): such files are undecodable.
    ALLOWED_FORMATS = ("bmp", "gif", "jpg", "jpeg", "jp2", "pbm", "pgm", "ppm", "pnm", "png",
                       "tif", "tiff", "exr", "webp", "BMP", "GIF", "JPG", "JPEG", "JP2", "PBM",
                       "PGM", "PPM", "PNM", "PNG", "TIF", "TIFF", "EXR", "WEBP")

    def __init__(self, height=None, width=None, channels=None, *, channel_order="BGR",
                 draft=True):
        for name, size in (("height", height), ("width", width)):
            if size is not None and int(size) < 1:
                raise ValueError(f"NativeImageLoader: {name} must be >= 1 or None (the image's "
                                 f"own), got {size}")
        if channels not in (None, 1, 3, 4):
            raise ValueError(f"NativeImageLoader: channels must be 1, 3, 4 or None (the image's "
                             f"own), got {channels}")
        if channel_order.upper() not in ("BGR", "RGB"):
            raise ValueError(f"NativeImageLoader: channel_order must be 'BGR' or 'RGB', "
                             f"got {channel_order!r}")
        self.height = None if height is None else int(height)
        self.width = None if width is None else int(width)
        self.channels = channels
        self.channel_order = channel_order.upper()
        self.draft = bool(draft)

    @property
    def decode_mode(self):
        """How files are decoded, for records of what made some features: ``"draft"`` (a JPEG
        much larger than the target decoded at a reduced scale, see the class docstring) or
        ``"full"`` (every pixel decoded, then resized). The two give slightly different pixels."""
        return "draft" if self.draft else "full"

    def as_matrix(self, image):
        """``image``: a path, a binary file object, a PIL image or a uint8 NumPy array
        -> float32 [1, c, h, w]. A missing file raises ``FileNotFoundError``, an undecodable
        one ``ImageDecodeError``."""
        pixels = self.as_hwc(image)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))[np.newaxis]

    def as_hwc(self, image):
        """The same pixels as a float32 [h, w, c] array (channel order applied)."""
        box, upright = None, None
        if isinstance(image, np.ndarray):
            pil = _array_to_image(image, self.channel_order)
        elif isinstance(image, Image.Image):
            pil = ImageOps.exif_transpose(image)
        else:  # a file: decoded in its stored orientation, turned upright once resized
            pil, (box, upright) = _open(image, self._prepare_decode)
        channels = self.channels or (1 if pil.mode in _GRAY_MODES else 3)
        pil = _convert_mode(pil, channels)
        size = self._target_size(pil.size, upright in _SWAPS_AXES)
        if pil.size != size or box is not None:
            pil = pil.resize(size, Image.BILINEAR, box=box)
        if upright is not None:
            pil = pil.transpose(upright)
        pixels = np.asarray(pil, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        if channels >= 3 and self.channel_order == "BGR":
            pixels = pixels[:, :, [2, 1, 0, 3][:channels]]
        return pixels

    def _target_size(self, stored_size, swapped):
        """(width, height) to resize an image stored as ``stored_size`` to, in its stored
        orientation (``swapped``: its EXIF orientation turns it a quarter turn)."""
        own = stored_size[::-1] if swapped else stored_size
        upright = (self.width or own[0], self.height or own[1])
        return upright[::-1] if swapped else upright

    def _prepare_decode(self, pil):
        """Called between opening a file and decoding it: (the draft's box or None, the
        transpose that shows the image upright or None)."""
        upright = _UPRIGHT.get(pil.getexif().get(_ORIENTATION, 1))
        return self._draft(pil, upright in _SWAPS_AXES), upright

    def _draft(self, pil, swapped):
        """Ask a JPEG decoder for 1/2, 1/4 or 1/8 of the size when the result is still at least
        ``DRAFT_GAP`` times the target; return the original image's box within the reduced one
        (for the resize), or None when the file is decoded at full size."""
        if not self.draft or pil.format not in _DRAFT_FORMATS or not (self.width and self.height):
            return None
        target = (self.height, self.width) if swapped else (self.width, self.height)
        full_size = pil.size
        chosen = pil.draft(None, (target[0] * DRAFT_GAP, target[1] * DRAFT_GAP))
        return None if chosen is None or pil.size == full_size else chosen[1]


def _convert_mode(pil, channels):
    """``pil`` in the mode holding ``channels`` bands: "L", "RGB" or "RGBA" ("F" for deep gray)."""
    if pil.mode in _SIXTEEN_BIT_MODES or pil.mode == "F":
        pil = _high_depth_to_float(pil)
        if channels == 1:
            return pil
        pil = Image.fromarray(np.asarray(pil).round().astype(np.uint8))
    target = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    if pil.mode == target:
        return pil
    if pil.mode == "CMYK" and channels != 3:
        pil = pil.convert("RGB")  # Pillow converts CMYK only to RGB-like modes: go through RGB
    return pil.convert(target)


def _high_depth_to_float(pil):
    """16-bit or 32-bit-int grayscale -> mode "F" in 0..255; float images are clipped to 0..255."""
    values = np.asarray(pil, dtype=np.float64)
    if pil.mode != "F":
        values = values / 257.0  # 65535 / 257 == 255
    return Image.fromarray(np.clip(values, 0, 255).astype(np.float32))


def _array_to_image(array, channel_order):
    """A uint8 [h, w] or [h, w, c] array whose colour channels are in ``channel_order``
    -> a PIL image (L, RGB or RGBA)."""
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in _ARRAY_CHANNELS)
    if array.dtype != np.uint8 or not shape_ok or 0 in array.shape:
        raise ValueError(f"NativeImageLoader: an image array must be uint8 [height, width] or "
                         f"[height, width, channels] with channels 1, 3 or 4, got "
                         f"{array.dtype} {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and channel_order == "BGR":
        array = array[:, :, [2, 1, 0, 3][:array.shape[2]]]  # Pillow wants RGB(A)
    return Image.fromarray(np.ascontiguousarray(array))


def open_image(image):
    """A fully decoded PIL image from a path, a file object or a PIL image.

    A path that cannot be opened raises as ``open`` does (``FileNotFoundError``,
    ``PermissionError``), naming it, as DL4J throws ``FileNotFoundException``. Decoding happens
    here (``load()``), so a corrupt or truncated file fails now with an ``ImageDecodeError``
    that names it, not later inside some array conversion.
    """
    if isinstance(image, Image.Image):
        return image
    return _open(image)[0]


def _open(image, before_load=None):
    """(decoded PIL image, what ``before_load(pil)`` returned) from a path or a file object;
    ``before_load`` runs on the opened, not yet decoded image (where ``draft`` works)."""
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as file:
            return _decode(file, os.fspath(image), before_load)
    return _decode(image, getattr(image, "name", repr(image)), before_load)


def _decode(file, name, before_load):
    try:
        pil = Image.open(file)
        prepared = before_load(pil) if before_load else None
        pil.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageDecodeError(f"cannot decode image {name}: {error}") from error
    return pil, prepared
