"""The flat layout of group IoUs."""

import numpy as np
from pycocotools import mask as mask_utils

from instaseg.evaluation.coco.group_ious import group_ious
from instaseg.evaluation.coco.matching import Groups


def test_blocks_are_ground_truth_major():
    square = np.zeros((10, 10), dtype=np.uint8)
    square[:5, :5] = 1
    other, strip = np.roll(square, 5, axis=1), square.copy()
    strip[:, 2:] = 0  # the square's first two columns: IoU 10 / 25 with it
    rles = [mask_utils.encode(np.asfortranarray(m)) for m in (square, other, strip)]
    groups = Groups(dt_start=np.array([0]), dt_count=np.array([2]), gt_start=np.array([0]), gt_count=np.array([3]))
    # Detections (square, other) against ground truth (other, square, strip): one (G=3, D=2) block.
    ious = group_ious(groups, rles[:2], [rles[1], rles[0], rles[2]], np.zeros(3, dtype=bool))
    np.testing.assert_array_equal(ious, [0.0, 1.0, 1.0, 0.0, 0.4, 0.0])
