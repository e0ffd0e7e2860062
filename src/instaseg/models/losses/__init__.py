"""Losses shared by the families: one home for mask, classification and box losses."""

from instaseg.models.losses.boxes import box_iou_loss
from instaseg.models.losses.classification import sigmoid_focal_loss
from instaseg.models.losses.distillation import SoftTargets, distillation_losses
from instaseg.models.losses.masks import dice_loss, mask_bce_loss

__all__ = ["SoftTargets", "box_iou_loss", "dice_loss", "distillation_losses", "mask_bce_loss",
           "sigmoid_focal_loss"]
