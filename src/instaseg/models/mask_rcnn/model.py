"""Mask R-CNN built from torchvision's detection parts, with instaseg's inputs and outputs.

Inputs are lists of (3, H, W) float images in [0, 1] and, in training, ``Instances`` with 0-based labels;
training returns named losses, inference returns one ``Instances`` per image at the input's size.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList

from instaseg.models.mask_rcnn.mask_geometry import paste_masks
from instaseg.structures.instances import Instances


class MaskRCNN(nn.Module):
    """Backbone+FPN -> RPN -> RoI heads (box and mask) -> pasted masks."""

    def __init__(self, *, backbone: nn.Module, rpn: nn.Module, roi_heads: nn.Module,
                 pixel_mean: tuple[float, ...], pixel_std: tuple[float, ...], size_divisibility: int = 32,
                 mask_threshold: float = 0.5) -> None:
        super().__init__()
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(3, 1, 1), persistent=False)
        self.size_divisibility = size_divisibility
        self.mask_threshold = mask_threshold

    def forward(self, images: list[torch.Tensor], targets: list[Instances] | None = None,
                output_sizes: list[tuple[int, int]] | None = None) -> dict[str, torch.Tensor] | list[Instances]:
        """Training (``targets`` given): dict of losses. Inference: list of Instances with scores, at
        ``output_sizes`` (default: each input's size): boxes scaled and masks pasted straight at that size."""
        batch = self.preprocess(images)
        features = self.backbone(batch.tensors)
        if targets is not None:
            detection_targets = [self._to_detection_target(t) for t in targets]
            proposals, rpn_losses = self.rpn(batch, features, detection_targets)
            _, roi_losses = self.roi_heads(features, proposals, batch.image_sizes, detection_targets)
            return {**rpn_losses, **roi_losses}
        proposals, _ = self.rpn(batch, features)
        detections, _ = self.roi_heads(features, proposals, batch.image_sizes)
        output_sizes = output_sizes or batch.image_sizes
        return [self.postprocess(d, size, out) for d, size, out in zip(detections, batch.image_sizes, output_sizes)]

    @contextmanager
    def limit_detections(self, score_threshold: float, max_detections: int) -> Iterator[None]:
        """Drop low scores and surplus detections before the mask head and full-resolution pasting (most of
        inference time) instead of after; the detections kept are the same. Restored on exit."""
        saved = self.roi_heads.score_thresh, self.roi_heads.detections_per_img
        self.roi_heads.score_thresh = max(saved[0], score_threshold)
        self.roi_heads.detections_per_img = min(saved[1], max_detections)
        try:
            yield
        finally:
            self.roi_heads.score_thresh, self.roi_heads.detections_per_img = saved

    def preprocess(self, images: list[torch.Tensor]) -> ImageList:
        """Normalise and zero-pad to one (B, 3, H', W') batch whose sides are multiples of the stride."""
        sizes = [(int(i.shape[-2]), int(i.shape[-1])) for i in images]
        stride = self.size_divisibility
        height = -(-max(s[0] for s in sizes) // stride) * stride
        width = -(-max(s[1] for s in sizes) // stride) * stride
        batch = images[0].new_zeros((len(images), 3, height, width))
        for slot, image in zip(batch, images):
            slot[:, : image.shape[-2], : image.shape[-1]] = (image - self.pixel_mean) / self.pixel_std
        return ImageList(batch, sizes)

    @staticmethod
    def _to_detection_target(instances: Instances) -> dict[str, torch.Tensor]:
        # torchvision's heads reserve label 0 for background.
        return {"boxes": instances.boxes.float(), "labels": instances.labels + 1,
                "masks": instances.masks.to(torch.uint8)}

    def postprocess(self, detection: dict[str, torch.Tensor], input_size: tuple[int, int],
                    output_size: tuple[int, int]) -> Instances:
        """Scale boxes to ``output_size``, paste the 28x28 mask probabilities there and binarise them."""
        output_size = (int(output_size[0]), int(output_size[1]))
        scale_y, scale_x = output_size[0] / input_size[0], output_size[1] / input_size[1]
        boxes = detection["boxes"] * detection["boxes"].new_tensor([scale_x, scale_y, scale_x, scale_y])
        masks = paste_masks(detection["masks"][:, 0], boxes, output_size, self.mask_threshold)
        return Instances(image_size=output_size, boxes=boxes, masks=masks, labels=detection["labels"] - 1,
                         scores=detection["scores"])
