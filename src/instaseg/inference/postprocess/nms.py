"""Fast NMS (YOLACT, Bolya et al., 2019): non-maximum suppression as one matrix operation, with no loop.

A box is dropped when any higher-scoring box of its class overlaps it above the threshold, even one that is
itself dropped: slightly more is removed than by greedy NMS (whose kept set contains this one's), in exchange
for a fixed graph of tensor operations that exports and runs as fast on few boxes as on many.
"""

from __future__ import annotations

import torch
from torchvision.ops import box_iou


def fast_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the kept boxes, by descending score.

    Args:
        boxes: (N, 4) xyxy; scores: (N,); labels: (N,) classes (boxes of different classes never suppress).
    """
    order = scores.argsort(descending=True)
    if len(order) == 0:
        return order
    boxes, labels = boxes[order], labels[order]
    overlaps = box_iou(boxes, boxes).triu(diagonal=1)  # (N, N): [i, j] for higher-scoring i < j
    overlaps = overlaps * (labels[:, None] == labels[None, :])
    return order[overlaps.amax(dim=0) <= iou_threshold]
