"""Reading images of the kinds users have: PNG, JPEG, TIFF, BMP; grayscale, RGB(A), 8- and 16-bit.

Every reader returns (H, W, 3) uint8 RGB with the EXIF orientation applied, because that is what the
annotation tools (LabelMe, CVAT, COCO viewers) show the annotator, so that is the frame masks live in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

# EXIF orientations 5-8 rotate by 90 degrees, so the shown image has width and height swapped.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


class ImageReadError(ValueError):
    """An image file that is missing, unreadable or of an unsupported kind."""


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale any integer or float image to uint8; deeper images are stretched over their own range."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    array = array.astype(np.float64)
    finite = array[np.isfinite(array)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(array, nan=low) - low) / (high - low)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)


def _to_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 2 = gray+alpha), (H, W, 3) or (H, W, 4) -> (H, W, 3); alpha is dropped."""
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    channels = array.shape[2]
    if channels in (1, 2):
        return np.repeat(array[:, :, :1], 3, axis=2)
    if channels >= 3:
        return np.ascontiguousarray(array[:, :, :3])
    raise ImageReadError(f"unsupported channel count {channels}")


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    array = tifffile.imread(str(path))
    # Multi-page or channels-first stacks: take the first plane so the image is 2-D or (H, W, C).
    while array.ndim > 3:
        array = array[0]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)
    return array


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB, EXIF orientation applied.

    Raises:
        ImageReadError: naming the file, when it is missing, empty or not a readable image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            try:
                return _to_rgb(_to_uint8(_read_tiff(path)))
            except Exception:  # not every TIFF tifffile reads; Pillow reads some of the rest
                pass
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                array = np.asarray(image)
            elif image.mode in ("RGB", "L"):
                array = np.array(image)  # a writable copy: callers (and torch) may write into it
            elif image.mode == "1":
                array = np.asarray(image.convert("L"))
            else:  # P, RGBA, LA, CMYK, YCbCr...: let Pillow make RGB (palette and alpha handled)
                array = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: not a readable image ({error})") from None
    return _to_rgb(_to_uint8(array))


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) as the image is shown (EXIF orientation applied), read from the header only."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(f"{path}: not a readable image ({error})") from None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return height, width


def write_png(path: str | Path, array: np.ndarray, compress_level: int = 1, huffman_only: bool = False) -> None:
    """Write uint8 RGB/gray or uint16 gray PNG atomically (temp file, then rename).

    ``huffman_only`` skips zlib's string matching: faster and smaller for noisy images, where it finds little.
    """
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array[:, :, ::-1] if array.ndim == 3 else array  # OpenCV writes BGR
    params = [cv2.IMWRITE_PNG_COMPRESSION, compress_level]
    if huffman_only:
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(data), params)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(buffer.tobytes())
    temp.replace(path)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly or recursively under ``folder``, sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
