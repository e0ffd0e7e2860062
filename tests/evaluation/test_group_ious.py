"""Group IoUs through pycocotools' C routines called directly, against its Python API."""

import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.group_ious import group_ious, native_routines
from instaseg.evaluation.coco.matching import Groups

from .coco_cases import _shape


def _random_groups(rng: np.random.Generator, count: int) -> tuple[Groups, list, list, np.ndarray]:
    dt_count, gt_count = rng.integers(1, 9, size=count), rng.integers(1, 5, size=count)
    dt, gt = [], []
    for dn, gn in zip(dt_count, gt_count):
        height, width = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        for _ in range(dn):
            dt.append(mask_utils.encode(np.asfortranarray(_shape(rng, height, width))))
        for _ in range(gn):
            rle = mask_utils.encode(np.asfortranarray(_shape(rng, height, width)))
            gt.append({"size": rle["size"], "counts": rle["counts"].decode("ascii")})  # str counts, as JSON has
    groups = Groups(dt_start=np.cumsum(dt_count) - dt_count, dt_count=dt_count,
                    gt_start=np.cumsum(gt_count) - gt_count, gt_count=gt_count)
    return groups, dt, gt, rng.random(len(gt)) < 0.3


def test_the_direct_routines_load_where_pycocotools_exports_them():
    if sys.platform.startswith("linux"):
        assert native_routines() is not None


@pytest.mark.parametrize("seed", [0, 1])
def test_direct_and_python_api_ious_are_identical(seed):
    rng = np.random.default_rng(seed)
    groups, dt, gt, crowd = _random_groups(rng, 150)  # enough groups to be split over threads
    expected = group_ious(groups, dt, gt, crowd, use_native=False)
    assert expected.shape == (groups.iou_size,) and (expected > 0).any() and (expected == 0).any()
    np.testing.assert_array_equal(group_ious(groups, dt, gt, crowd), expected)
    boxes = lambda rles: np.asarray(mask_utils.toBbox(rles), dtype=np.float64).reshape(-1, 4)  # noqa: E731
    np.testing.assert_array_equal(group_ious(groups, boxes(dt), boxes(gt), crowd),
                                  group_ious(groups, boxes(dt), boxes(gt), crowd, use_native=False))


def test_blocks_are_ground_truth_major():
    square = np.zeros((10, 10), dtype=np.uint8)
    square[:5, :5] = 1
    other = np.roll(square, 5, axis=1)
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in (square, other)]
    groups = Groups(dt_start=np.array([0]), dt_count=np.array([2]), gt_start=np.array([0]), gt_count=np.array([1]))
    # Detections square and other against ground truth other: block (G=1, D=2).
    ious = group_ious(groups, rles, rles[1:], np.array([False]))
    np.testing.assert_array_equal(ious, [0.0, 1.0])
