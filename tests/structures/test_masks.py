import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instaseg.structures.masks import Mask, bitmaps_to_rles, polygons_to_rle


def random_bitmap(rng: np.random.Generator, size: int = 64, holes: bool = True) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        center = (int(rng.integers(8, size - 8)), int(rng.integers(8, size - 8)))
        axes = (int(rng.integers(2, size // 3)), int(rng.integers(2, size // 3)))
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if holes and rng.random() < 0.6:
        cv2.circle(mask, (size // 2, size // 2), int(rng.integers(1, size // 8)), 0, -1)
    return mask.astype(bool)


def random_polygon(rng: np.random.Generator, size: int) -> list[float]:
    count = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(3, size / 3, count)
    center = rng.uniform(size / 3, 2 * size / 3, 2)
    points = center + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
    return np.clip(points, 0, size).ravel().tolist()


def test_polygon_rle_bitmap_rle_round_trip_keeps_every_pixel():
    rng = np.random.default_rng(1)
    for _ in range(50):
        height, width = int(rng.integers(20, 120)), int(rng.integers(20, 120))
        polygons = [random_polygon(rng, min(height, width)) for _ in range(int(rng.integers(1, 3)))]
        reference = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        rle = Mask.from_polygons(polygons, height, width).to_rle()
        bitmap = Mask.from_rle(rle).to_bitmap()
        assert np.array_equal(bitmap, mask_utils.decode(reference).astype(bool))
        again = Mask.from_bitmap(bitmap).to_rle()
        assert again["counts"] == rle["counts"]
        assert again["size"] == [height, width]


def test_area_and_box_agree_with_pycocotools():
    rng = np.random.default_rng(2)
    for _ in range(30):
        bitmap = random_bitmap(rng)
        reference = mask_utils.encode(np.asfortranarray(bitmap.astype(np.uint8)))
        mask = Mask.from_bitmap(bitmap)
        assert mask.area == int(mask_utils.area(reference)) == int(bitmap.sum())
        assert mask.bbox_xywh == pytest.approx(mask_utils.toBbox(reference).tolist())
        ys, xs = np.nonzero(bitmap)
        assert mask.box_xyxy == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_uncompressed_rle_round_trip():
    rng = np.random.default_rng(3)
    for _ in range(20):
        bitmap = random_bitmap(rng)
        mask = Mask.from_bitmap(bitmap)
        uncompressed = mask.to_uncompressed_rle()
        assert isinstance(uncompressed["counts"], list)
        assert sum(uncompressed["counts"]) == bitmap.size
        assert np.array_equal(Mask.from_rle(uncompressed).to_bitmap(), bitmap)


def test_uncompressed_rle_that_starts_with_foreground():
    bitmap = np.zeros((4, 5), bool)
    bitmap[0, 0] = bitmap[1, 0] = True
    counts = Mask.from_bitmap(bitmap).to_uncompressed_rle()["counts"]
    assert counts[:2] == [0, 2]


def test_uncompressed_rle_with_wrong_total_is_rejected():
    with pytest.raises(ValueError, match="sum to 5"):
        Mask.from_rle({"size": [2, 3], "counts": [2, 3]})


@pytest.mark.parametrize("join_all", [False, True])
def test_traced_polygons_rasterise_back_to_the_same_pixels(join_all):
    """Tracing runs along pixel edges, so pycocotools reproduces the mask exactly, holes included."""
    rng = np.random.default_rng(4)
    for _ in range(60):
        bitmap = random_bitmap(rng)
        polygons = Mask.from_bitmap(bitmap).to_polygons(join_all=join_all)
        if join_all:
            assert len(polygons) == 1
        assert np.array_equal(Mask.from_polygons(polygons, *bitmap.shape).to_bitmap(), bitmap)


def test_hole_survives_polygon_conversion():
    bitmap = np.zeros((40, 40), bool)
    bitmap[5:35, 5:35] = True
    bitmap[15:25, 15:25] = False
    mask = Mask.from_bitmap(bitmap)
    assert mask.has_holes() and mask.num_parts() == 1
    back = Mask.from_polygons(mask.to_polygons(), 40, 40)
    assert back.area == 30 * 30 - 10 * 10
    assert not back.to_bitmap()[20, 20]


def test_too_short_polygon_is_rejected():
    with pytest.raises(ValueError, match="at least 3 points"):
        Mask.from_polygons([[0, 0, 5, 5]], 10, 10)


def test_batch_encoding_matches_single_encoding():
    rng = np.random.default_rng(5)
    stack = np.stack([random_bitmap(rng) for _ in range(6)])
    batch = bitmaps_to_rles(stack)
    assert [r["counts"] for r in batch] == [Mask.from_bitmap(b).to_rle()["counts"] for b in stack]
    assert bitmaps_to_rles(np.zeros((0, 8, 8), bool)) == []


def test_coco_segmentation_keeps_its_encoding():
    polygon = [[1, 1, 8, 1, 8, 8, 1, 8]]
    assert Mask.from_coco(polygon, 10, 10).to_coco() == [[1.0, 1.0, 8.0, 1.0, 8.0, 8.0, 1.0, 8.0]]
    rle = polygons_to_rle(polygon, 10, 10)
    as_json = {"size": rle["size"], "counts": rle["counts"].decode()}
    assert Mask.from_coco(as_json, 10, 10).to_coco() == as_json


def test_compressed_rle_covering_too_few_pixels_is_refused():
    good = Mask.from_bitmap(np.ones((4, 4), bool)).to_rle()
    with pytest.raises(ValueError, match="cover 16 pixels, but its size 5x5 has 25"):
        Mask.from_rle({"size": [5, 5], "counts": good["counts"]})
    with pytest.raises(ValueError, match="cannot be decoded"):
        Mask.from_rle({"size": [4, 4], "counts": "0\x01"})
