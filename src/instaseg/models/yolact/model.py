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
from instaseg.models.assigners import TaskAlignedAssigner
from instaseg.models.base import ImageSize, InstanceSegmentationModel, resolve_output_sizes
from instaseg.models.dense import (DenseHead, MaskFeatureNet, anchor_points, decode_boxes, detection_losses,
                                   downsampled_masks, select_detections, semantic_loss)
from instaseg.models.dense.mask_features import MASK_FEATURE_STRIDE as PROTOTYPE_STRIDE
from instaseg.models.layers import normalize_and_pad
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.rescoring import MaskIoUHead, box_cells, rescoring_loss
from instaseg.structures.instances import Instances


class Yolact(InstanceSegmentationModel):
    """Backbone -> PAN neck -> dense head (classes, boxes, coefficients) + prototypes -> instances."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, prototypes: MaskFeatureNet,
                 semantic: nn.Module, config: YolactConfig, mask_iou: MaskIoUHead | None = None) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.prototypes, self.semantic, self.mask_iou = prototypes, semantic, mask_iou
        self.config = config
        self.assigner = TaskAlignedAssigner(config.assign_top_k, config.assign_alpha, config.assign_beta,
                                            config.assign_soft_targets)
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(3, 1, 1), persistent=False)

    # Shared by both paths
    def run_network(self, images: Sequence[torch.Tensor]):
        """(padded batch, image sizes, levels, class logits (B, A, K), boxes (B, A, 4) xyxy, coefficients
        (B, A, k), prototypes (B, k, H/2, W/2), anchor points (A, 2))."""
        batch, sizes = normalize_and_pad(images, self.pixel_mean, self.pixel_std, self.config.size_divisibility)
        features = self.backbone(batch)  # strides 4, 8, 16, 32
        levels = list(self.neck(features).values())  # strides 8, 16, 32
        class_logits, distances, coefficients = self.head(levels)
        points, strides = anchor_points(levels, batch.shape[-2])
        boxes = decode_boxes(points, strides, distances)
        prototypes = self.prototypes(levels[0], features["0"])
        return batch, sizes, levels, class_logits, boxes, coefficients, prototypes, points

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        batch, _, levels, class_logits, boxes, coefficients, prototypes, points = self.run_network(images)
        detection = detection_losses(self.assigner, class_logits, boxes, points, targets)
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
        loss_semantic = semantic_loss(self.semantic(levels[0]), targets, batch.shape[-2:])
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
        _, sizes, _, class_logits, boxes, coefficients, prototypes, _ = self.run_network(images)
        config = self.config
        results = []
        for logits, image_boxes, image_coefficients, image_prototypes, size, output_size in zip(
                class_logits, boxes, coefficients, prototypes, sizes, output_sizes):
            kept = select_detections(logits.sigmoid(), image_boxes, size, score_threshold=score_threshold,
                                     pre_nms_candidates=config.pre_nms_candidates,
                                     nms_threshold=config.nms_threshold, max_instances=max_instances)
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
