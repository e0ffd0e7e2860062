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
from torchvision.ops import clip_boxes_to_image, roi_align

from instaseg.inference.postprocess.nms import fast_nms
from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.assigners import TaskAlignedAssigner
from instaseg.models.base import ImageSize, InstanceSegmentationModel, resolve_output_sizes
from instaseg.models.layers import normalize_and_pad
from instaseg.models.losses import box_iou_loss
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.head import DenseHead, PrototypeNet
from instaseg.structures.instances import Instances

PROTOTYPE_STRIDE = 2


class Yolact(InstanceSegmentationModel):
    """Backbone -> PAN neck -> dense head (classes, boxes, coefficients) + prototypes -> instances."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, prototypes: PrototypeNet,
                 semantic: nn.Module, config: YolactConfig) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.prototypes, self.semantic = prototypes, semantic
        self.config = config
        self.assigner = TaskAlignedAssigner(config.assign_top_k, config.assign_alpha, config.assign_beta)
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
        boxes = torch.cat([points - distances[..., :2] * strides, points + distances[..., 2:] * strides], dim=-1)
        prototypes = self.prototypes(levels[0], features["0"])
        return batch, sizes, levels, class_logits, boxes, coefficients, prototypes, points

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        batch, _, levels, class_logits, boxes, coefficients, prototypes, points = self.run_network(images)
        assignments = [self.assigner(logits.sigmoid().detach(), image_boxes.detach(), points, t.boxes.float(),
                                     t.labels) for logits, image_boxes, t in zip(class_logits, boxes, targets)]
        class_targets = torch.stack([a.class_targets for a in assignments])  # (B, A, K)
        normaliser = class_targets.sum().clamp(min=1.0)
        loss_class = F.binary_cross_entropy_with_logits(class_logits, class_targets, reduction="sum") / normaliser
        box_terms, mask_terms = [], []
        for index, (assignment, target) in enumerate(zip(assignments, targets)):
            positive = assignment.positive.nonzero().squeeze(1)
            if len(positive) == 0:
                continue
            owner = assignment.gt_index[positive]
            weight = assignment.class_targets[positive].sum(dim=1)  # (P,) the alignment of each positive
            box_terms.append((box_iou_loss(boxes[index, positive], target.boxes[owner].float(), reduction="none")
                              * weight).sum())
            mask_terms.append(_mask_loss(coefficients[index, positive], prototypes[index], target, owner,
                                         batch.shape[-2:]))
        zero = class_logits.sum() * 0  # keeps the graph whole for batches without objects
        loss_box = sum(box_terms, zero) / normaliser
        loss_mask = sum(mask_terms, zero) / max(1, len(mask_terms))
        loss_semantic = _semantic_loss(self.semantic(levels[0]), targets, batch.shape[-2:])
        config = self.config
        return {"loss_class": config.class_weight * loss_class, "loss_box": config.box_weight * loss_box,
                "loss_mask": config.mask_weight * loss_mask, "loss_semantic": config.semantic_weight * loss_semantic}

    # Prediction
    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        output_sizes = resolve_output_sizes(images, output_sizes)
        _, sizes, _, class_logits, boxes, coefficients, prototypes, _ = self.run_network(images)
        return [self._instances(logits.sigmoid(), image_boxes, image_coefficients, image_prototypes, size,
                                output_size, score_threshold, max_instances)
                for logits, image_boxes, image_coefficients, image_prototypes, size, output_size
                in zip(class_logits, boxes, coefficients, prototypes, sizes, output_sizes)]

    def _instances(self, scores: torch.Tensor, boxes: torch.Tensor, coefficients: torch.Tensor,
                   prototypes: torch.Tensor, size: ImageSize, output_size: ImageSize, score_threshold: float,
                   max_instances: int) -> Instances:
        """One image: (A, K) scores, (A, 4) boxes, (A, k) coefficients, (k, h, w) prototypes -> Instances."""
        config = self.config
        # Every (point, class) above the threshold is a candidate; the best few go to class-wise Fast NMS.
        flat = scores.flatten()
        candidates = torch.nonzero(flat > score_threshold).squeeze(1)
        candidates = candidates[flat[candidates].topk(min(config.pre_nms_candidates, len(candidates))).indices]
        points, labels = candidates // scores.shape[1], candidates % scores.shape[1]
        candidate_boxes = clip_boxes_to_image(boxes[points], size)
        keep = fast_nms(candidate_boxes, flat[candidates], labels, config.nms_threshold)[:max_instances]
        points, labels, kept_boxes = points[keep], labels[keep], candidate_boxes[keep]
        kept_scores = flat[candidates[keep]]
        # Masks of the kept instances only: coefficients . prototypes, sampled inside each box, pasted once.
        logits = torch.einsum("pk,khw->phw", coefficients[points], prototypes)[:, None]  # (P, 1, h, w)
        rois = torch.cat([torch.arange(len(kept_boxes), device=logits.device, dtype=kept_boxes.dtype)[:, None],
                          kept_boxes], dim=1)
        cells = roi_align(logits, rois, config.mask_resolution, spatial_scale=1 / PROTOTYPE_STRIDE,
                          sampling_ratio=2, aligned=True)[:, 0].sigmoid()  # (P, M, M)
        scale = kept_boxes.new_tensor([output_size[1] / size[1], output_size[0] / size[0]] * 2)
        output_boxes = kept_boxes * scale
        masks = paste_masks(cells, output_boxes, output_size, config.mask_threshold)
        return Instances(image_size=output_size, boxes=output_boxes, masks=masks, labels=labels, scores=kept_scores)


def anchor_points(levels: list[torch.Tensor], padded_height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, 2) centres (x, y) in input pixels of every level's cells, finest first, and (A, 1) their strides."""
    points, strides = [], []
    for level in levels:
        height, width = level.shape[-2:]
        stride = padded_height / height
        ys = (torch.arange(height, device=level.device, dtype=level.dtype) + 0.5) * stride
        xs = (torch.arange(width, device=level.device, dtype=level.dtype) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
        strides.append(torch.full((height * width, 1), stride, device=level.device, dtype=level.dtype))
    return torch.cat(points), torch.cat(strides)


def _downsampled_masks(masks: torch.Tensor, padded_size: tuple[int, int], stride: int) -> torch.Tensor:
    """(N, H, W) bool masks at the image size -> (N, H_p / stride, W_p / stride) covered fractions."""
    padded = F.pad(masks.float(), (0, padded_size[1] - masks.shape[-1], 0, padded_size[0] - masks.shape[-2]))
    return F.avg_pool2d(padded[:, None], stride)[:, 0]


def _mask_loss(coefficients: torch.Tensor, prototypes: torch.Tensor, target: Instances, owner: torch.Tensor,
               padded_size: tuple[int, int]) -> torch.Tensor:
    """Mean over positives of the per-pixel BCE inside the object's box, normalised by the box's area (so
    small objects weigh as much as large ones)."""
    logits = torch.einsum("pk,khw->phw", coefficients, prototypes)  # (P, h, w)
    masks = _downsampled_masks(target.masks, padded_size, PROTOTYPE_STRIDE)[owner]  # (P, h, w)
    boxes = target.boxes[owner].float() / PROTOTYPE_STRIDE
    ys = torch.arange(logits.shape[1], device=logits.device, dtype=boxes.dtype)[None, :, None] + 0.5
    xs = torch.arange(logits.shape[2], device=logits.device, dtype=boxes.dtype)[None, None, :] + 0.5
    inside = ((xs >= boxes[:, 0, None, None]) & (xs <= boxes[:, 2, None, None])
              & (ys >= boxes[:, 1, None, None]) & (ys <= boxes[:, 3, None, None]))
    pixel_loss = F.binary_cross_entropy_with_logits(logits, masks, reduction="none") * inside
    areas = inside.flatten(1).sum(1).clamp(min=1)
    return (pixel_loss.flatten(1).sum(1) / areas).mean()


def _semantic_loss(logits: torch.Tensor, targets: Sequence[Instances], padded_size: tuple[int, int]) -> torch.Tensor:
    """BCE of (B, K, h, w) per-class logits against each class's union of masks at that stride."""
    stride = padded_size[0] // logits.shape[-2]
    semantic = torch.zeros_like(logits)
    for slot, target in zip(semantic, targets):
        if len(target):
            covered = _downsampled_masks(target.masks, padded_size, stride)  # (N, h, w)
            slot.scatter_reduce_(0, target.labels[:, None, None].expand_as(covered), covered, "amax")
    return F.binary_cross_entropy_with_logits(logits, semantic)
