"""YOLACT (Bolya et al., 2019) with the YOLACT++ auxiliary semantic loss, on a CSP backbone and PAN neck with
an anchor-free, task-aligned dense head (as YOLOv8-seg trains it).

Every anchor point predicts class scores, a box and k mask coefficients; an instance's mask is
sigmoid(coefficients . prototypes), cropped to its box. Only the kept instances' masks are assembled, sampled
box-relative and pasted once at full resolution.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.base import ImageSize, resolve_output_sizes
from instaseg.models.dense import DenseHead, MaskFeatureNet, detection_losses, downsampled_masks, semantic_loss
from instaseg.models.dense.mask_features import MASK_FEATURE_STRIDE as PROTOTYPE_STRIDE
from instaseg.models.dense.model import DenseInstanceModel, DenseOutputs
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.rescoring import MaskIoUHead, box_cells, rescoring_loss
from instaseg.structures.instances import Instances


class Yolact(DenseInstanceModel):
    """Backbone -> PAN neck -> dense head (classes, boxes, coefficients) + prototypes -> instances."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, prototypes: MaskFeatureNet,
                 semantic: nn.Module, config: YolactConfig, mask_iou: MaskIoUHead | None = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, config=config)
        self.prototypes, self.semantic, self.mask_iou = prototypes, semantic, mask_iou

    def run_network(self, images: Sequence[torch.Tensor]) -> tuple[DenseOutputs, torch.Tensor]:
        """The dense outputs (``instance``: (B, A, k) coefficients) and (B, k, H/2, W/2) prototypes."""
        dense = self.run_dense(images)
        return dense, self.prototypes(dense.levels[0], dense.features["0"])

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        dense, prototypes = self.run_network(images)
        batch, class_logits, coefficients = dense.batch, dense.class_logits, dense.instance
        detection = detection_losses(self.assigner, class_logits, dense.boxes, dense.points, targets)
        mask_terms, rescoring_terms = [], []
        for index, (assignment, target) in enumerate(zip(detection.assignments, targets)):
            positive = assignment.positive.nonzero().squeeze(1)
            if len(positive) == 0:
                continue
            owner = assignment.gt_index[positive]
            mask_logits = torch.einsum("pk,khw->phw", coefficients[index, positive], prototypes[index])
            mask_terms.append(_mask_loss(mask_logits, target, owner, batch.shape[-2:]))
            if self.mask_iou is not None:
                rescoring_terms.append(rescoring_loss(self.mask_iou, mask_logits, target.masks, target.boxes, owner,
                                                      PROTOTYPE_STRIDE))
        zero = class_logits.sum() * 0
        loss_mask = sum(mask_terms, zero) / max(1, len(mask_terms))
        loss_semantic = semantic_loss(self.semantic(dense.levels[0]), targets, batch.shape[-2:])
        config = self.config
        losses = {"loss_class": config.class_weight * detection.loss_class,
                  "loss_box": config.box_weight * detection.loss_box,
                  "loss_mask": config.mask_weight * loss_mask,
                  "loss_semantic": config.semantic_weight * loss_semantic}
        if self.mask_iou is not None:
            losses["loss_rescoring"] = config.rescoring_weight * sum(rescoring_terms, zero) / max(1, len(
                rescoring_terms))
        return losses

    # Prediction
    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        output_sizes = resolve_output_sizes(images, output_sizes)
        dense, prototypes = self.run_network(images)
        config = self.config
        results = []
        for logits, image_boxes, image_coefficients, image_prototypes, size, output_size in zip(
                dense.class_logits, dense.boxes, dense.instance, prototypes, dense.sizes, output_sizes):
            kept = self.select(logits, image_boxes, size, score_threshold, max_instances)
            # Masks of the kept instances only: coefficients . prototypes, sampled inside each box, pasted once.
            mask_logits = torch.einsum("pk,khw->phw", image_coefficients[kept.points], image_prototypes)[:, None]
            rois = torch.cat([torch.arange(len(kept.boxes), device=mask_logits.device,
                                           dtype=kept.boxes.dtype)[:, None], kept.boxes], dim=1)
            cells = roi_align(mask_logits, rois, config.mask_resolution, spatial_scale=1 / PROTOTYPE_STRIDE,
                              sampling_ratio=2, aligned=True)[:, 0].sigmoid()  # (P, M, M)
            scores, order = kept.scores, torch.arange(len(kept.scores), device=kept.scores.device)
            if self.mask_iou is not None:  # class score x predicted mask IoU, re-ranked
                scores = scores * self.mask_iou(box_cells(mask_logits[:, 0], kept.boxes, PROTOTYPE_STRIDE)).sigmoid()
                order = order[scores > score_threshold]
                order = order[scores[order].argsort(descending=True)]
            scale = kept.boxes.new_tensor([output_size[1] / size[1], output_size[0] / size[0]] * 2)
            output_boxes = kept.boxes[order] * scale
            masks = paste_masks(cells[order], output_boxes, output_size, config.mask_threshold)
            results.append(Instances(image_size=output_size, boxes=output_boxes, masks=masks,
                                     labels=kept.labels[order], scores=scores[order]))
        return results


def _mask_loss(logits: torch.Tensor, target: Instances, owner: torch.Tensor, padded_size: tuple[int, int]
               ) -> torch.Tensor:
    """Mean over positives of the per-pixel BCE of their (P, h, w) full-map mask logits inside their object's
    box, normalised by the box's area (so small objects weigh as much as large ones)."""
    masks = downsampled_masks(target.masks, padded_size, PROTOTYPE_STRIDE)[owner]  # (P, h, w)
    boxes = target.boxes[owner].float() / PROTOTYPE_STRIDE
    ys = torch.arange(logits.shape[1], device=logits.device, dtype=boxes.dtype)[None, :, None] + 0.5
    xs = torch.arange(logits.shape[2], device=logits.device, dtype=boxes.dtype)[None, None, :] + 0.5
    inside = ((xs >= boxes[:, 0, None, None]) & (xs <= boxes[:, 2, None, None])
              & (ys >= boxes[:, 1, None, None]) & (ys <= boxes[:, 3, None, None]))
    pixel_loss = F.binary_cross_entropy_with_logits(logits, masks, reduction="none") * inside
    areas = inside.flatten(1).sum(1).clamp(min=1)
    return (pixel_loss.flatten(1).sum(1) / areas).mean()
