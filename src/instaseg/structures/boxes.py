"""Boxes from masks: the one place that computes them, for bitmaps (here) and RLEs (``rle_boxes_xywh``).

Boxes are xyxy in pixel edges: a mask covering pixel columns 2..5 spans x0 = 2, x1 = 6 (exclusive max), the
same box pycocotools' ``toBbox`` gives as x, y, width, height. Empty masks get all-zero boxes.
"""

from __future__ import annotations

import numpy as np


def boxes_from_bitmaps(masks: np.ndarray) -> np.ndarray:
    """(N, 4) float32 xyxy boxes of (N, H, W) bool masks, vectorised (no per-mask loop)."""
    count = len(masks)
    boxes = np.zeros((count, 4), dtype=np.float32)
    if count == 0 or masks.shape[1] == 0 or masks.shape[2] == 0:
        return boxes
    rows, cols = masks.any(axis=2), masks.any(axis=1)  # (N, H), (N, W)
    filled = rows.any(axis=1)
    boxes[filled, 0] = cols[filled].argmax(axis=1)
    boxes[filled, 1] = rows[filled].argmax(axis=1)
    boxes[filled, 2] = masks.shape[2] - cols[filled, ::-1].argmax(axis=1)
    boxes[filled, 3] = masks.shape[1] - rows[filled, ::-1].argmax(axis=1)
    return boxes
