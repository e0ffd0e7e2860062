"""The network half the dense families share: normalise and pad, CSP backbone, PAN neck, dense head, anchor
points and decoded boxes; and their task-aligned assigner and candidate selection. A family adds its mask
branch (YOLACT: prototypes; CondInst: mask features and dynamic mask networks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from instaseg.models.assigners import TaskAlignedAssigner
from instaseg.models.base import InstanceSegmentationModel
from instaseg.models.dense.detection import Detections, select_detections
from instaseg.models.dense.head import DenseHead, anchor_points, decode_boxes
from instaseg.models.layers import normalize_and_pad


@dataclass
class DenseOutputs:
    batch: torch.Tensor  # (B, 3, H, W) normalised and padded
    sizes: list[tuple[int, int]]  # each image's size inside the padding
    features: dict[str, torch.Tensor]  # the backbone's levels, strides 4 to 32
    levels: list[torch.Tensor]  # the neck's levels, strides 8, 16, 32
    class_logits: torch.Tensor  # (B, A, K)
    boxes: torch.Tensor  # (B, A, 4) xyxy in input pixels
    instance: torch.Tensor  # (B, A, E) what each family reads its own way
    points: torch.Tensor  # (A, 2) anchor points (x, y)
    strides: torch.Tensor  # (A, 1)


class DenseInstanceModel(InstanceSegmentationModel):
    """Config fields it reads: ``assign_top_k``, ``assign_alpha``, ``assign_beta``, ``assign_soft_targets``,
    ``pre_nms_candidates``, ``nms_threshold``, ``pixel_mean``, ``pixel_std``, ``size_divisibility``."""

    # Channels-last: oneDNN's convolutions run it without reordering (about 10% faster training on CPU; with
    # the weights stored so too, 4-6% faster prediction).
    memory_format = torch.channels_last

    def __init__(self, *, backbone: nn.Module, neck: nn.Module, head: DenseHead, config) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.config = config
        self.assigner = TaskAlignedAssigner(config.assign_top_k, config.assign_alpha, config.assign_beta,
                                            config.assign_soft_targets)
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(3, 1, 1), persistent=False)

    def run_dense(self, images: Sequence[torch.Tensor]) -> DenseOutputs:
        batch, sizes = normalize_and_pad(images, self.pixel_mean, self.pixel_std, self.config.size_divisibility)
        features = self.backbone(batch.contiguous(memory_format=self.memory_format))
        levels = list(self.neck(features).values())
        class_logits, distances, instance = self.head(levels)
        points, strides = anchor_points(levels, batch.shape[-2])
        return DenseOutputs(batch, sizes, features, levels, class_logits, decode_boxes(points, strides, distances),
                            instance, points, strides)

    def select(self, class_logits: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], score_threshold: float,
               max_instances: int) -> Detections:
        """One image's (A, K) class logits and (A, 4) boxes -> its kept candidates (Fast NMS)."""
        return select_detections(class_logits.sigmoid(), boxes, size, score_threshold=score_threshold,
                                 pre_nms_candidates=self.config.pre_nms_candidates,
                                 nms_threshold=self.config.nms_threshold, max_instances=max_instances)
