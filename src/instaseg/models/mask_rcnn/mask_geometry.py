"""Mask R-CNN's mask loss, on the aligned targets of ``models.losses.mask_targets`` (exact pixel geometry)."""

from __future__ import annotations

import torch

from instaseg.models.losses import mask_bce_loss
from instaseg.models.losses.mask_targets import mask_targets


def mask_loss(mask_logits: torch.Tensor, boxes: list[torch.Tensor], gt_masks: list[torch.Tensor],
              gt_labels: list[torch.Tensor], matched: list[torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy of each positive box's own-class mask logits against its aligned target.

    Args:
        mask_logits: (P, C, M, M) for all images' positive boxes, concatenated.
        boxes, matched: per image, the positive boxes (P_i, 4) and their ground-truth indices (P_i,).
        gt_masks, gt_labels: per image, (N_i, H, W) masks and (N_i,) labels (background = 0).
    """
    size = mask_logits.shape[-1]
    if mask_logits.numel() == 0:
        return mask_logits.sum() * 0  # keeps the graph connected when an image batch has no positives
    labels = torch.cat([image_labels[index] for image_labels, index in zip(gt_labels, matched)])
    targets = torch.cat([mask_targets(masks, image_boxes, index, size)
                         for masks, image_boxes, index in zip(gt_masks, boxes, matched)])
    own_class = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return mask_bce_loss(own_class, targets)
