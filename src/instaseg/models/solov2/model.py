"""SOLOv2 (Wang et al., 2020) on a CSP backbone and PAN neck.

Each grid cell holding an object's centre predicts the object's class and a 1x1 kernel; the kernel applied to
the shared stride-2 mask features is the object's mask over the whole image (no boxes anywhere: an
instance's box is its mask's). Prediction keeps the best cells, weighs each score by its mask's confidence
("maskness"), suppresses duplicates with Matrix NMS and pastes the kept masks once at full resolution.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.ops import masks_to_boxes, roi_align

from instaseg.inference.postprocess.matrix_nms import matrix_nms
from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.base import ImageSize, InstanceSegmentationModel, resolve_output_sizes
from instaseg.models.dense import MaskFeatureNet, downsampled_masks
from instaseg.models.dense.mask_features import MASK_FEATURE_STRIDE
from instaseg.models.layers import normalize_and_pad
from instaseg.models.losses import dice_loss, sigmoid_focal_loss
from instaseg.models.solov2.config import Solov2Config
from instaseg.models.solov2.head import GridHead
from instaseg.models.solov2.targets import grid_targets
from instaseg.structures.instances import Instances


class Solov2(InstanceSegmentationModel):
    """Backbone -> PAN neck -> grid head (classes, kernels) + mask features -> instances."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: GridHead, mask_features: MaskFeatureNet,
                 config: Solov2Config) -> None:
        super().__init__()
        self.backbone, self.neck, self.head, self.mask_features = backbone, neck, head, mask_features
        self.config = config
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(3, 1, 1), persistent=False)

    def run_network(self, images: Sequence[torch.Tensor]):
        """(padded batch, image sizes, class logits (B, cells, K), kernels (B, cells, E), mask features
        (B, E, H/2, W/2))."""
        batch, sizes = normalize_and_pad(images, self.pixel_mean, self.pixel_std, self.config.size_divisibility)
        features = self.backbone(batch)
        levels = list(self.neck(features).values())
        class_logits, kernels = self.head(levels)
        return batch, sizes, class_logits, kernels, self.mask_features(levels[0], features["0"])

    # Training
    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        batch, _, class_logits, kernels, mask_features = self.run_network(images)
        config = self.config
        padded = tuple(batch.shape[-2:])
        assigned = [grid_targets(t, padded, config.grids, config.scale_ranges, config.centre_sigma)
                    for t in targets]
        labels = torch.stack([a.labels for a in assigned])  # (B, cells)
        one_hot = torch.zeros_like(class_logits)
        positive = labels >= 0
        one_hot[positive, labels[positive]] = 1.0
        count = positive.sum()
        loss_class = sigmoid_focal_loss(class_logits, one_hot, alpha=config.focal_alpha, gamma=config.focal_gamma,
                                        reduction="sum") / (count + 1)
        loss_mask = class_logits.sum() * 0
        logits, mask_targets = [], []
        for index, (assignment, target) in enumerate(zip(assigned, targets)):
            cells = assignment.owners.ge(0).nonzero().squeeze(1)
            if len(cells) == 0:
                continue
            logits.append(torch.einsum("pe,ehw->phw", kernels[index, cells], mask_features[index]))
            covered = downsampled_masks(target.masks, padded, MASK_FEATURE_STRIDE)
            mask_targets.append(covered[assignment.owners[cells]])
        if logits:
            loss_mask = dice_loss(torch.cat(logits), torch.cat(mask_targets))
        return {"loss_class": config.class_weight * loss_class, "loss_mask": config.mask_weight * loss_mask}

    # Prediction
    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        output_sizes = resolve_output_sizes(images, output_sizes)
        _, sizes, class_logits, kernels, mask_features = self.run_network(images)
        return [self._instances(logits.sigmoid(), image_kernels, features, size, output_size, score_threshold,
                                max_instances)
                for logits, image_kernels, features, size, output_size
                in zip(class_logits, kernels, mask_features, sizes, output_sizes)]

    def _instances(self, scores: torch.Tensor, kernels: torch.Tensor, features: torch.Tensor, size: ImageSize,
                   output_size: ImageSize, score_threshold: float, max_instances: int) -> Instances:
        config = self.config
        flat = scores.flatten()
        candidates = torch.nonzero(flat > score_threshold).squeeze(1)
        candidates = candidates[flat[candidates].topk(min(config.pre_nms_candidates, len(candidates))).indices]
        cells, labels = candidates // scores.shape[1], candidates % scores.shape[1]
        # Masks at stride 2, cut to the image (padding off); maskness = mean probability inside the mask.
        crop = ((size[0] + 1) // MASK_FEATURE_STRIDE, (size[1] + 1) // MASK_FEATURE_STRIDE)
        probabilities = torch.einsum("pe,ehw->phw", kernels[cells], features)[:, :crop[0], :crop[1]].sigmoid()
        binary = probabilities > config.mask_threshold
        pixels = binary.flatten(1).sum(1)
        keep = pixels > 0
        maskness = (probabilities * binary).flatten(1).sum(1) / pixels.clamp(min=1)
        candidate_scores = flat[candidates] * maskness
        order = torch.where(keep, candidate_scores, torch.full_like(candidate_scores, -1.0)).argsort(
            descending=True)[: int(keep.sum())]
        decayed = matrix_nms(binary[order], labels[order], candidate_scores[order], sigma=config.matrix_nms_sigma)
        final = decayed > score_threshold
        order, decayed = order[final], decayed[final]
        ranked = decayed.argsort(descending=True)[:max_instances]
        order, final_scores = order[ranked], decayed[ranked]
        # Boxes from the stride-2 masks; each mask sampled inside its box and pasted once at full resolution.
        boxes = masks_to_boxes(binary[order]).to(probabilities.dtype) if len(order) else \
            probabilities.new_zeros((0, 4))
        boxes = (boxes + boxes.new_tensor([0, 0, 1, 1])) * MASK_FEATURE_STRIDE  # cell edges, input pixels
        boxes = torch.minimum(boxes, boxes.new_tensor([size[1], size[0]] * 2))
        rois = torch.cat([torch.arange(len(order), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], dim=1)
        mask_cells = roi_align(probabilities[order][:, None], rois, config.mask_resolution,
                               spatial_scale=1 / MASK_FEATURE_STRIDE, sampling_ratio=2, aligned=True)[:, 0]
        scale = boxes.new_tensor([output_size[1] / size[1], output_size[0] / size[0]] * 2)
        output_boxes = boxes * scale
        masks = paste_masks(mask_cells, output_boxes, output_size, config.mask_threshold)
        return Instances(image_size=output_size, boxes=output_boxes, masks=masks, labels=labels[order],
                         scores=final_scores)
