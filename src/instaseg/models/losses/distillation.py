"""Knowledge distillation's currency: what a trained teacher predicts for the ground-truth objects of a training
batch, and the student's losses against it.

The teacher is asked about the ground truth's own boxes (``predict_objects``), so any family can teach any other:
nothing matches the two models' detections or aligns their feature maps. The student imitates, for each
positive, the teacher's class probabilities for its object (logit distillation) and the teacher's mask of that
object on the cells of its box (mask imitation), beside the usual losses against the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SoftTargets:
    """A teacher's predictions for one image's N ground-truth objects, in the targets' order."""

    class_probs: torch.Tensor  # (N, K) probability of each class
    mask_probs: torch.Tensor  # (N, S, S) mask probability on S x S cells of the object's box


def distillation_losses(class_logits: torch.Tensor, cell_logits: torch.Tensor, soft: SoftTargets,
                        owner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's (class, mask) imitation losses for P positives of one image.

    Args:
        class_logits: (P, K) the positives' class logits.
        cell_logits: (P, S', S') their mask logits on the cells of their objects' boxes.
        soft: the teacher's predictions for the image's objects.
        owner: (P,) each positive's object.
    Returns:
        BCE against the class probabilities, summed over classes and averaged over positives; and BCE against
        the mask probabilities (resampled to S' cells where the teacher's grid differs), averaged over cells.
    """
    class_probs = soft.class_probs[owner].to(class_logits.dtype)
    loss_class = F.binary_cross_entropy_with_logits(class_logits, class_probs, reduction="sum") / max(
        1, len(owner))
    mask_probs = soft.mask_probs[owner].to(cell_logits.dtype)
    if mask_probs.shape[-2:] != cell_logits.shape[-2:]:
        mask_probs = F.interpolate(mask_probs[:, None], size=cell_logits.shape[-2:], mode="bilinear",
                                   align_corners=False)[:, 0]
    return loss_class, F.binary_cross_entropy_with_logits(cell_logits, mask_probs)
