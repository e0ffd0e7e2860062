"""Turning whatever image a user holds (array, PIL image, file path) into (H, W, 3) uint8 RGB."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

# The same normalisation read_image applies to files, so an array, a PIL image and a path agree.
from instaseg.data.images import _to_rgb, _to_uint8, read_image
from instaseg.errors import InstasegError

ImageInput = Union[np.ndarray, Image.Image, str, Path]


def load_image(image: ImageInput) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an array, a PIL image or a path; no copy for (H, W, 3) uint8 arrays.

    Arrays are RGB (not OpenCV's BGR); gray (H, W), (H, W, 1) and RGBA are accepted, and arrays of other
    dtypes (16-bit, float) are stretched over their own range, as ``read_image`` does for such files.
    PIL images get their EXIF orientation applied, as files do.

    Raises:
        ImageReadError: for a path that is missing or not a readable image (the message names it).
        InstasegError: for anything that is not an image.
    """
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if isinstance(image, np.ndarray):
        return _check_array(image)
    raise InstasegError(f"cannot predict on a {type(image).__name__}: pass a numpy array (H, W, 3) RGB, "
                        "a PIL image or an image path")


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InstasegError(f"image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
                            f"got {tuple(array.shape)}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InstasegError(f"image array is empty: {tuple(array.shape)}")
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        return array  # the common case: used as it is
    return _to_rgb(_to_uint8(array))


def _pil_to_array(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L", "I;16", "I;16B", "I;16L", "I", "F"):
        image = image.convert("RGB")  # palette, alpha, CMYK...: Pillow makes RGB as read_image does
    return _check_array(np.asarray(image))
