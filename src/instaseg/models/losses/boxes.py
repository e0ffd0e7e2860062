"""Box regression losses on xyxy boxes: the IoU family, from torchvision."""

from __future__ import annotations

import torch
from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss

_IOU_LOSSES = {"giou": generalized_box_iou_loss, "diou": distance_box_iou_loss, "ciou": complete_box_iou_loss}


def box_iou_loss(predicted: torch.Tensor, target: torch.Tensor, kind: str = "giou",
                 reduction: str = "mean") -> torch.Tensor:
    """(N, 4) xyxy predictions against (N, 4) xyxy targets; ``kind`` is giou, diou or ciou."""
    if kind not in _IOU_LOSSES:
        raise ValueError(f"unknown IoU loss {kind!r}; use one of {', '.join(_IOU_LOSSES)}")
    if len(predicted) == 0:
        return predicted.sum() * 0
    return _IOU_LOSSES[kind](predicted, target, reduction=reduction)
