"""Mask losses on logits: per-pixel binary cross-entropy and the dice loss (Milletari et al., 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of (N, ...) mask logits against targets in [0, 1] (soft targets allowed)."""
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, *, smooth: float = 1.0,
              reduction: str = "mean") -> torch.Tensor:
    """1 - soft dice of sigmoid(``logits``) and ``targets``, one value per mask (N, ...) then reduced.

    Insensitive to how much of the image a mask covers, so small objects weigh as much as large ones.
    torchvision has none; SOLO and CondInst use this form (squared terms in the denominator).
    """
    probabilities = logits.sigmoid().flatten(1)
    targets = targets.to(probabilities.dtype).flatten(1)
    overlap = (probabilities * targets).sum(1)
    total = (probabilities ** 2).sum(1) + (targets ** 2).sum(1)
    losses = 1 - (2 * overlap + smooth) / (total + smooth)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.mean() if len(losses) else logits.sum() * 0
