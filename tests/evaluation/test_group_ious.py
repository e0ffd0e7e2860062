"""The flat layout of group IoUs, and their values against pycocotools' own."""

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.group_ious import box_group_ious, mask_group_ious
from instaseg.evaluation.coco.matching import Groups
from instaseg.evaluation.coco.run_lengths import decode_rles


def test_blocks_are_ground_truth_major():
    square = np.zeros((10, 10), dtype=np.uint8)
    square[:5, :5] = 1
    other, strip = np.roll(square, 5, axis=1), square.copy()
    strip[:, 2:] = 0  # the square's first two columns: IoU 10 / 25 with it
    runs = decode_rles([mask_utils.encode(np.asfortranarray(m)) for m in (square, other, strip)])
    groups = Groups(dt_start=np.array([0]), dt_count=np.array([2]), gt_start=np.array([0]), gt_count=np.array([3]))
    # Detections (square, other) against ground truth (other, square, strip): one (G=3, D=2) block.
    ious = mask_group_ious(groups, runs, np.array([0, 1]), runs, np.array([1, 0, 2]), np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(ious, [0.0, 1.0, 1.0, 0.0, 0.4, 0.0])


def _random_groups(rng: np.random.Generator, count: int) -> Groups:
    dt_count, gt_count = rng.integers(1, 6, size=count), rng.integers(1, 4, size=count)
    return Groups(dt_start=np.cumsum(dt_count) - dt_count, dt_count=dt_count,
                  gt_start=np.cumsum(gt_count) - gt_count, gt_count=gt_count)


def _blob(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
    mask[y:y + int(rng.integers(0, height)), x:x + int(rng.integers(0, width))] = 1  # may be empty
    if rng.random() < 0.3:
        mask ^= (rng.random((height, width)) < 0.1).astype(np.uint8)  # speckle: many runs
    return mask


def test_mask_ious_equal_pycocotools_with_crowds_and_mismatched_sizes():
    rng = np.random.default_rng(5)
    groups = _random_groups(rng, 40)
    # Mostly 24 x 30; some ground truth 30 x 24 (pycocotools: -1 where the boxes overlap, else 0).
    dt = [_blob(rng, 24, 30) for _ in range(int(groups.dt_count.sum()))]
    gt = [_blob(rng, 24, 30) if rng.random() < 0.85 else _blob(rng, 30, 24) for _ in range(int(groups.gt_count.sum()))]
    crowd = rng.random(len(gt)) < 0.3
    dt_rles = [mask_utils.encode(np.asfortranarray(m)) for m in dt]
    gt_rles = [mask_utils.encode(np.asfortranarray(m)) for m in gt]
    ours = mask_group_ious(groups, decode_rles(dt_rles), np.arange(len(dt)), decode_rles(gt_rles),
                           np.arange(len(gt)), crowd)
    for ds, dn, gs, gn, offset in zip(groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                                      groups.iou_offset):
        reference = np.asarray(mask_utils.iou(dt_rles[ds:ds + dn], gt_rles[gs:gs + gn], crowd[gs:gs + gn]))
        np.testing.assert_array_equal(ours[offset:offset + dn * gn], reference.reshape(dn, gn).ravel(order="F"))
    assert (ours == -1).any() and ((ours > 0) & (ours < 1)).any()  # both rules were exercised
    # With a floor, what could reach it is still exact, and what is left unmeasured is below it.
    floored = mask_group_ious(groups, decode_rles(dt_rles), np.arange(len(dt)), decode_rles(gt_rles),
                              np.arange(len(gt)), crowd, floor=0.5)
    reachable = ours >= 0.5
    np.testing.assert_array_equal(floored[reachable], ours[reachable])
    assert (floored[~reachable] < 0.5).all() and (floored[~reachable] != ours[~reachable]).any()


def test_box_ious_equal_pycocotools_with_crowds():
    rng = np.random.default_rng(6)
    groups = _random_groups(rng, 40)
    dt = rng.uniform(0, 40, size=(int(groups.dt_count.sum()), 4))
    gt = rng.uniform(0, 40, size=(int(groups.gt_count.sum()), 4))
    crowd = rng.random(len(gt)) < 0.3
    ours = box_group_ious(groups, dt, gt, crowd)
    for ds, dn, gs, gn, offset in zip(groups.dt_start, groups.dt_count, groups.gt_start, groups.gt_count,
                                      groups.iou_offset):
        reference = np.asarray(mask_utils.iou(dt[ds:ds + dn], gt[gs:gs + gn], crowd[gs:gs + gn]))
        np.testing.assert_array_equal(ours[offset:offset + dn * gn], reference.reshape(dn, gn).ravel(order="F"))
