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
from instaseg.models.dense import DenseHead, MaskFeatureNet, detection_losses, semantic_loss
from instaseg.models.dense.mask_features import MASK_FEATURE_STRIDE as PROTOTYPE_STRIDE
from instaseg.models.dense.model import DenseInstanceModel, DenseOutputs
from instaseg.models.losses.mask_targets import mask_targets
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.rescoring import RESCORING_SIZE, MaskIoUHead, box_cells, rescoring_loss
from instaseg.structures.instances import Instances

# Cells per side of an object's box in the mask loss; re-scoring learns from the same cells.
TRAINING_MASK_CELLS = RESCORING_SIZE


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
        # Unbound once: indexing the batch per image would back-propagate a full-size zero gradient each time.
        for assignment, target, image_coefficients, image_prototypes in zip(
                detection.assignments, targets, coefficients.unbind(0), prototypes.unbind(0)):
            positive = assignment.positive.nonzero().squeeze(1)
            if len(positive) == 0:
                continue
            owner = assignment.gt_index[positive]
            boxes = target.boxes.float()
            cell_logits = box_cell_logits(image_coefficients[positive], image_prototypes, boxes, owner)
            cell_targets = mask_targets(target.masks, boxes, torch.arange(len(target), device=owner.device),
                                        TRAINING_MASK_CELLS)[owner]
            mask_terms.append(F.binary_cross_entropy_with_logits(cell_logits, cell_targets))
            if self.mask_iou is not None:
                rescoring_terms.append(rescoring_loss(self.mask_iou, cell_logits, cell_targets))
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


def box_cell_logits(coefficients: torch.Tensor, prototypes: torch.Tensor, boxes: torch.Tensor,
                    owner: torch.Tensor) -> torch.Tensor:
    """(P, S, S) mask logits of P positives on S x S cells inside their objects' boxes.

    The loss reads only the box (YOLACT crops its mask loss to the box), and sampling the prototypes there
    once per object costs a fraction of P full-map products and their per-pixel losses (a fifth of a training
    step's time before). Sampling is linear, so these are the full-map logits' cells inside the box, which
    prediction samples the same way on a finer grid.

    Args:
        coefficients: (P, k) each positive's coefficients.
        prototypes: (k, h, w) one image's prototypes at ``PROTOTYPE_STRIDE``.
        boxes: (N, 4) xyxy object boxes in input pixels.
        owner: (P,) index into ``boxes`` of each positive's object.
    """
    rois = torch.cat([boxes.new_zeros((len(boxes), 1)), boxes], dim=1)
    # roi_align runs (and back-propagates) faster on contiguous maps than on channels-last ones.
    crops = roi_align(prototypes[None].contiguous(), rois, TRAINING_MASK_CELLS, spatial_scale=1 / PROTOTYPE_STRIDE,
                      sampling_ratio=1, aligned=True)  # (N, k, S, S); one bilinear sample per cell
    return torch.einsum("pk,pkyx->pyx", coefficients, crops.index_select(0, owner))
