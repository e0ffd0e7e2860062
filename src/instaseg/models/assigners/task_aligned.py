"""Task-aligned assignment (TOOD, Feng et al., 2021), as YOLOv8 and RTMDet use it: each object takes the
``top_k`` anchor points inside its box where the prediction is already best on both tasks, by the alignment
score^alpha * IoU^beta; the soft classification target is that alignment, rescaled so an object's best point
gets its best IoU. Several positives per object, and which ones follows the predictions as they improve.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import box_iou


@dataclass
class Assignment:
    """What each of A anchor points of one image learns."""

    gt_index: torch.Tensor  # (A,) int64: the object it is assigned to, -1 for background
    class_targets: torch.Tensor  # (A, C) float: the soft classification targets (0 for background)

    @property
    def positive(self) -> torch.Tensor:  # (A,) bool
        return self.gt_index >= 0


class TaskAlignedAssigner:
    """``soft_targets=False`` gives every positive a classification target of 1 (as ATSS / FCOS do) instead of
    its rescaled alignment: a stronger signal while predicted boxes still overlap their objects poorly."""

    def __init__(self, top_k: int = 10, alpha: float = 0.5, beta: float = 6.0, soft_targets: bool = True) -> None:
        self.top_k, self.alpha, self.beta, self.soft_targets = top_k, alpha, beta, soft_targets

    @torch.no_grad()
    def __call__(self, scores: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor, gt_boxes: torch.Tensor,
                 gt_labels: torch.Tensor) -> Assignment:
        """
        Args:
            scores: (A, C) predicted class probabilities; boxes: (A, 4) predicted xyxy boxes.
            points: (A, 2) anchor point centres (x, y); gt_boxes: (G, 4) xyxy; gt_labels: (G,) in 0..C-1.
        """
        num_points, num_classes = scores.shape
        gt_index = torch.full((num_points,), -1, dtype=torch.long, device=scores.device)
        class_targets = scores.new_zeros((num_points, num_classes))
        if len(gt_boxes) == 0:
            return Assignment(gt_index, class_targets)
        # Candidates: points inside the box; an object too small to hold one takes the point nearest its centre.
        inside = ((points[None, :, 0] > gt_boxes[:, None, 0]) & (points[None, :, 0] < gt_boxes[:, None, 2])
                  & (points[None, :, 1] > gt_boxes[:, None, 1]) & (points[None, :, 1] < gt_boxes[:, None, 3]))
        centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
        nearest = torch.cdist(centres, points).argmin(dim=1)  # (G,)
        inside[torch.arange(len(gt_boxes)), nearest] |= ~inside.any(dim=1)
        ious = box_iou(gt_boxes, boxes).clamp(min=0)  # (G, A)
        alignment = scores[:, gt_labels].T.pow(self.alpha) * ious.pow(self.beta) * inside  # (G, A)
        # The top-k aligned candidates of each object are its positives, and at least its best-overlapping one.
        objects = torch.arange(len(gt_boxes), device=scores.device)
        chosen = torch.zeros_like(inside)
        chosen.scatter_(1, alignment.topk(min(self.top_k, num_points), dim=1).indices, True)
        chosen &= inside & (alignment > 0)
        best_overlap = torch.where(inside, ious + 1e-6, torch.full_like(ious, -1.0)).argmax(dim=1)
        chosen[objects, best_overlap] |= ~chosen.any(dim=1)
        # A point chosen by several objects learns the one its box overlaps most.
        owner = torch.where(chosen, ious, torch.full_like(ious, -1.0)).argmax(dim=0)  # (A,)
        positive = chosen.any(dim=0)
        gt_index[positive] = owner[positive]
        # Soft targets: alignment rescaled per object so its best point reaches the object's best IoU.
        kept = alignment * (chosen & (objects[:, None] == owner[None]))
        best_alignment = kept.amax(dim=1, keepdim=True).clamp(min=1e-9)
        best_iou = (ious * (kept > 0)).amax(dim=1, keepdim=True)
        target = (kept / best_alignment * best_iou).amax(dim=0)  # (A,)
        class_targets[positive, gt_labels[owner[positive]]] = target[positive] if self.soft_targets else 1.0
        return Assignment(gt_index, class_targets)
