"""The one boxes-from-masks path agrees with pycocotools for bitmaps and RLEs alike."""

import numpy as np
import torch

from instaseg.structures.boxes import boxes_from_bitmaps
from instaseg.structures.instances import boxes_from_masks
from instaseg.structures.masks import bitmaps_to_rles, rle_boxes_xywh


def test_bitmap_boxes_equal_pycocotools_boxes_of_the_same_masks():
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 23, 31), dtype=bool)
    for index, mask in enumerate(masks[:-1]):  # the last one stays empty
        y0, x0 = rng.integers(0, 20), rng.integers(0, 28)
        mask[y0: y0 + rng.integers(1, 6), x0: x0 + rng.integers(1, 6)] = True
        mask[rng.integers(0, 23), rng.integers(0, 31)] = True  # a stray pixel widens the box
    xywh = rle_boxes_xywh(bitmaps_to_rles(masks))
    expected = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    assert np.array_equal(boxes_from_bitmaps(masks), expected.astype(np.float32))
    assert boxes_from_bitmaps(masks)[-1].tolist() == [0, 0, 0, 0]
    assert torch.equal(boxes_from_masks(torch.from_numpy(masks)), torch.from_numpy(expected.astype(np.float32)))
    assert boxes_from_bitmaps(np.zeros((0, 4, 4), bool)).shape == (0, 4)
