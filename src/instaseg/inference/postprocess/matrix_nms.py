"""Matrix NMS (SOLOv2, Wang et al., 2020): soft suppression of masks in one matrix operation.

Instead of removing a mask that overlaps a higher-scoring one, every mask's score decays by how much it
overlaps each higher-scoring mask of its class, compensated by how much that mask is itself suppressed.
Written here because torchvision has box NMS only; it is a handful of tensor operations.
"""

from __future__ import annotations

import torch


def matrix_nms(masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, *, sigma: float = 2.0,
               kernel: str = "gaussian") -> torch.Tensor:
    """Decayed scores of N masks given in descending score order.

    Args:
        masks: (N, H, W) bool or {0, 1} masks; labels: (N,) classes; scores: (N,) sorted descending.
        kernel: "gaussian" (decay exp(-sigma * IoU^2)) or "linear" (decay 1 - IoU).
    """
    count = len(scores)
    if count == 0:
        return scores
    flat = masks.flatten(1).to(scores.dtype)
    intersection = flat @ flat.T
    areas = flat.sum(1)
    union = areas[:, None] + areas[None, :] - intersection
    # iou[i, j] for a higher-scoring i < j of the same class; 0 elsewhere.
    same_class = labels[:, None] == labels[None, :]
    iou = (intersection / union.clamp(min=1)).triu(diagonal=1) * same_class
    # How much each i is itself suppressed: its largest IoU with a higher-scoring mask.
    compensation = iou.amax(dim=0)[:, None].expand(count, count)  # [i, j] -> i's own worst overlap
    if kernel == "gaussian":
        decay = torch.exp(-sigma * (iou ** 2 - compensation ** 2))
    elif kernel == "linear":
        decay = (1 - iou) / (1 - compensation).clamp(min=1e-6)
    else:
        raise ValueError(f"unknown Matrix NMS kernel {kernel!r}; expected 'gaussian' or 'linear'")
    return scores * decay.amin(dim=0).clamp(max=1.0)
