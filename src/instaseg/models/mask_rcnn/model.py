"""Mask R-CNN (He et al., 2017) built from torchvision's detection parts, under instaseg's model protocol.

Inputs are lists of (3, H, W) float images in [0, 1] and, for ``loss``, ``Instances`` with 0-based labels;
``loss`` returns named losses, ``predict`` one ``Instances`` per image (see ``models.base``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList

from instaseg.inference.postprocess.paste import paste_masks
from instaseg.models.base import ImageSize, InstanceSegmentationModel, resolve_output_sizes
from instaseg.models.layers import normalize_and_pad
from instaseg.models.losses import SoftTargets
from instaseg.models.mask_rcnn.proposals import ProposalNetwork
from instaseg.models.mask_rcnn.roi_heads import BoxMaskRoIHeads
from instaseg.structures.instances import Instances


class MaskRCNN(InstanceSegmentationModel):
    """Backbone -> FPN neck -> region proposals -> RoI heads (box and mask) -> masks pasted at full size."""

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, rpn: ProposalNetwork, roi_heads: BoxMaskRoIHeads,
                 pixel_mean: Sequence[float], pixel_std: Sequence[float], size_divisibility: int = 32,
                 mask_threshold: float = 0.5) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(3, 1, 1), persistent=False)
        self.size_divisibility = size_divisibility
        self.mask_threshold = mask_threshold

    def loss(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> dict[str, torch.Tensor]:
        batch = self.preprocess(images)
        features = self.neck(self.backbone(batch.tensors))
        detection_targets = [self._detection_target(t) for t in targets]
        proposals, rpn_losses = self.rpn.proposals_and_losses(batch, features, detection_targets)
        roi_losses = self.roi_heads.losses(features, proposals, batch.image_sizes, detection_targets)
        return {**rpn_losses, **roi_losses}

    def predict(self, images: Sequence[torch.Tensor], *, output_sizes: Sequence[ImageSize] | None = None,
                score_threshold: float = 0.05, max_instances: int = 100) -> list[Instances]:
        batch = self.preprocess(images)
        output_sizes = resolve_output_sizes(images, output_sizes)
        features = self.neck(self.backbone(batch.tensors))
        proposals = self.rpn.proposals(batch, features)
        detections = self.roi_heads.detect(features, proposals, batch.image_sizes, score_threshold=score_threshold,
                                           max_detections=max_instances)
        return [self.postprocess(d, size, out) for d, size, out in zip(detections, batch.image_sizes, output_sizes)]

    @torch.no_grad()
    def predict_objects(self, images: Sequence[torch.Tensor], targets: Sequence[Instances]) -> list[SoftTargets]:
        """As a teacher: the RoI heads run on the targets' own boxes; the box head's class probabilities
        (background's share left out) and the mask head's probabilities for each object's own class."""
        batch = self.preprocess(images)
        features = self.neck(self.backbone(batch.tensors))
        boxes = [target.boxes.float() for target in targets]
        class_logits, _ = self.roi_heads.box_logits(features, boxes, batch.image_sizes)
        class_probs = class_logits.softmax(dim=1)[:, 1:]  # torchvision's heads reserve class 0 for background
        mask_logits = self.roi_heads.mask_logits(features, boxes, batch.image_sizes)  # (P, C + 1, M, M)
        labels = torch.cat([target.labels for target in targets]) + 1
        mask_probs = mask_logits[torch.arange(len(labels), device=labels.device), labels].sigmoid()
        counts = [len(target) for target in targets]
        return [SoftTargets(c, m) for c, m in zip(class_probs.split(counts), mask_probs.split(counts))]

    def preprocess(self, images: Sequence[torch.Tensor]) -> ImageList:
        """Normalise and zero-pad to one (B, 3, H', W') batch whose sides are multiples of the stride."""
        tensors, sizes = normalize_and_pad(images, self.pixel_mean, self.pixel_std, self.size_divisibility)
        return ImageList(tensors, sizes)

    @staticmethod
    def _detection_target(instances: Instances) -> dict[str, torch.Tensor]:
        # torchvision's heads reserve label 0 for background.
        return {"boxes": instances.boxes.float(), "labels": instances.labels + 1,
                "masks": instances.masks.to(torch.uint8)}

    def postprocess(self, detection: dict[str, torch.Tensor], input_size: ImageSize,
                    output_size: ImageSize) -> Instances:
        """Scale boxes to ``output_size``, paste the M x M mask probabilities there and binarise them."""
        scale_y, scale_x = output_size[0] / input_size[0], output_size[1] / input_size[1]
        boxes = detection["boxes"] * detection["boxes"].new_tensor([scale_x, scale_y, scale_x, scale_y])
        masks = paste_masks(detection["masks"][:, 0], boxes, output_size, self.mask_threshold)
        return Instances(image_size=output_size, boxes=boxes, masks=masks, labels=detection["labels"] - 1,
                         scores=detection["scores"])
