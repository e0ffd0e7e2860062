import numpy as np
import pytest
import tifffile
from PIL import Image

from instaseg.data.images import ImageReadError, image_size, list_images, read_image, write_png


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_formats_read_back_exactly(tmp_path, rgb, suffix):
    path = tmp_path / f"image{suffix}"
    Image.fromarray(rgb).save(path)
    assert np.array_equal(read_image(path), rgb)
    assert image_size(path) == (12, 20)


def test_jpeg_reads_as_rgb(tmp_path, rgb):
    path = tmp_path / "image.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    image = read_image(path)
    assert image.shape == (12, 20, 3) and image.dtype == np.uint8


def test_grayscale_and_rgba_become_rgb(tmp_path, rgb):
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "gray.png")
    gray = read_image(tmp_path / "gray.png")
    assert gray.shape == (12, 20, 3) and np.array_equal(gray[:, :, 1], rgb[:, :, 0])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)


@pytest.mark.parametrize("writer", ["png", "tiff"])
def test_sixteen_bit_is_stretched_to_full_range(tmp_path, writer):
    deep = np.linspace(1000, 4000, 12 * 20).reshape(12, 20).astype(np.uint16)
    path = tmp_path / ("deep.png" if writer == "png" else "deep.tif")
    if writer == "png":
        write_png(path, deep)
    else:
        tifffile.imwrite(path, deep)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.min() == 0 and image.max() == 255
    assert np.all(np.diff(image[:, :, 0].ravel().astype(int)) >= 0)  # order kept


def test_exif_orientation_is_applied(tmp_path, rgb):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(path, exif=exif, quality=100)
    assert image_size(path) == (20, 12)
    assert read_image(path).shape == (20, 12, 3)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="missing.png: image file not found"):
        read_image(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(ImageReadError, match="broken.png: not a readable image"):
        read_image(broken)
    with pytest.raises(ImageReadError, match="broken.png"):
        image_size(broken)


def test_list_images_finds_supported_files_only(tmp_path, rgb):
    (tmp_path / "sub").mkdir()
    for name in ("a.png", "sub/b.JPG", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.JPG"]
