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
from instaseg.models.losses import SoftTargets, distillation_losses
from instaseg.models.losses.mask_targets import mask_targets
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.rescoring import RESCORING_SIZE, MaskIoUHead, box_cells, rescoring_loss
from instaseg.structures.instances import Instances

# Cells per side of an object's box in the mask loss; re-scoring learns from the same cells.
TRAINING_MASK_CELLS = RESCORING_SIZE


class Yolact(DenseInstanceModel):
    """Backbone -> PAN neck -> dense head (classes, boxes, coefficients) + prototypes -> instances."""

    learns_from_teacher = True

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, prototypes: MaskFeatureNet,
                 semantic: nn.Module, config: YolactConfig, mask_iou: MaskIoUHead | None = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, config=config)
        self.prototypes, self.semantic, self.mask_iou = prototypes, semantic, mask_iou

    def run_network(self, images: Sequence[torch.Tensor]) -> tuple[DenseOutputs, torch.Tensor]:
        """The dense outputs (``instance``: (B, A, k) coefficients) and (B, k, H/2, W/2) prototypes."""
        dense = self.run_dense(images)
        return dense, self.prototypes(dense.levels[0], dense.features["0"])

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances], *,
             soft_targets: Sequence[SoftTargets] | None = None) -> dict[str, torch.Tensor]:
        """The losses against ``targets``; with a teacher's ``soft_targets``, also the imitation losses."""
        dense, prototypes = self.run_network(images)
        batch, class_logits, coefficients = dense.batch, dense.class_logits, dense.instance
        detection = detection_losses(self.assigner, class_logits, dense.boxes, dense.points, targets)
        mask_terms, rescoring_terms, distill_class_terms, distill_mask_terms = [], [], [], []
        boxes = [target.boxes.float() for target in targets]
        object_cells = prototype_box_cells(prototypes, boxes)
        # Unbound once: indexing the batch per image would back-propagate a full-size zero gradient each time.
        for assignment, target, image_boxes, image_class_logits, image_coefficients, image_cells, soft in zip(
                detection.assignments, targets, boxes, class_logits.unbind(0), coefficients.unbind(0),
                object_cells, soft_targets or [None] * len(targets)):
            positive = assignment.positive.nonzero().squeeze(1)
            if len(positive) == 0:
                continue
            owner = assignment.gt_index[positive]
            cell_logits = box_cell_logits(image_coefficients[positive], image_cells, owner)
            cell_targets = mask_targets(target.masks, image_boxes, torch.arange(len(target), device=owner.device),
                                        TRAINING_MASK_CELLS)[owner]
            mask_terms.append(F.binary_cross_entropy_with_logits(cell_logits, cell_targets))
            if self.mask_iou is not None:
                rescoring_terms.append(rescoring_loss(self.mask_iou, cell_logits, cell_targets))
            if soft is not None:
                class_term, mask_term = distillation_losses(image_class_logits[positive], cell_logits, soft, owner)
                distill_class_terms.append(class_term)
                distill_mask_terms.append(mask_term)
        zero = class_logits.sum() * 0
        config = self.config
        losses = {"loss_class": config.class_weight * detection.loss_class,
                  "loss_box": config.box_weight * detection.loss_box,
                  "loss_mask": config.mask_weight * _mean(mask_terms, zero),
                  "loss_semantic": config.semantic_weight * semantic_loss(self.semantic(dense.levels[0]), targets,
                                                                          batch.shape[-2:])}
        if self.mask_iou is not None:
            losses["loss_rescoring"] = config.rescoring_weight * _mean(rescoring_terms, zero)
        if soft_targets is not None:
            losses["loss_distill_class"] = config.distill_class_weight * _mean(distill_class_terms, zero)
            losses["loss_distill_mask"] = config.distill_mask_weight * _mean(distill_mask_terms, zero)
        return losses

    # Teaching
    @torch.no_grad()
    def predict_objects(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> list[SoftTargets]:
        """For each target object: the mean class probabilities and mask probabilities of the anchor points the
        assigner gives it (at least one each), the mask on the cells of the object's own box."""
        dense, prototypes = self.run_network(images)
        boxes = [target.boxes.float() for target in targets]
        results = []
        for logits, image_boxes, image_coefficients, image_cells, target, object_boxes in zip(
                dense.class_logits, dense.boxes, dense.instance, prototype_box_cells(prototypes, boxes), targets,
                boxes):
            probabilities = logits.sigmoid()
            assignment = self.assigner(probabilities, image_boxes, dense.points, object_boxes, target.labels)
            positive = assignment.positive.nonzero().squeeze(1)
            owner = assignment.gt_index[positive]
            masks = box_cell_logits(image_coefficients[positive], image_cells, owner).sigmoid()
            count = torch.zeros(len(target), device=owner.device).index_add_(
                0, owner, torch.ones_like(owner, dtype=torch.float)).clamp(min=1)
            class_probs = probabilities.new_zeros((len(target), probabilities.shape[1])).index_add_(
                0, owner, probabilities[positive]) / count[:, None]
            mask_probs = masks.new_zeros((len(target), *masks.shape[1:])).index_add_(0, owner, masks)
            results.append(SoftTargets(class_probs, mask_probs / count[:, None, None]))
        return results

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


def _mean(terms: list[torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
    return sum(terms, zero) / max(1, len(terms))


def prototype_box_cells(prototypes: torch.Tensor, boxes: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Each object's prototypes sampled on S x S cells inside its box: per image, (N, k, S, S).

    The loss reads only the box (YOLACT crops its mask loss to the box), and sampling the prototypes there
    once per object costs a fraction of every positive's full-map product and per-pixel loss (a fifth of a
    training step before).

    Args:
        prototypes: (B, k, h, w) prototypes at ``PROTOTYPE_STRIDE``.
        boxes: per image, (N, 4) xyxy object boxes in input pixels.
    """
    image_index = torch.cat([torch.full((len(image_boxes), 1), float(index), device=prototypes.device)
                             for index, image_boxes in enumerate(boxes)])
    rois = torch.cat([image_index, torch.cat(list(boxes)).to(prototypes.device)], dim=1)
    # roi_align runs (and back-propagates) faster on contiguous maps than on channels-last ones.
    cells = roi_align(prototypes.contiguous(), rois, TRAINING_MASK_CELLS, spatial_scale=1 / PROTOTYPE_STRIDE,
                      sampling_ratio=1, aligned=True)  # (sum N, k, S, S); one bilinear sample per cell
    return list(cells.split([len(image_boxes) for image_boxes in boxes]))


def box_cell_logits(coefficients: torch.Tensor, object_cells: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """(P, S, S) mask logits of P positives on the cells of their objects' boxes.

    Sampling is linear, so these are the full-map logits' cells inside the box, which prediction samples the
    same way on a finer grid.

    Args:
        coefficients: (P, k) each positive's coefficients.
        object_cells: (N, k, S, S) one image's prototypes in each object's box (``prototype_box_cells``).
        owner: (P,) index of each positive's object.
    """
    return torch.einsum("pk,pkyx->pyx", coefficients, object_cells.index_select(0, owner))
