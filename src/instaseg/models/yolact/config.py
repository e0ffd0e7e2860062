"""YOLACT settings: a CSP backbone and PAN neck, a dense anchor-free head and stride-2 prototype masks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class YolactConfig:
    backbone: str = "csp_nano"  # csp_nano | csp_small | csp_medium
    num_prototypes: int = 32
    # Width of the mask-feature path (half of it at stride 2): 32 trains 1.3x the images/s of 64 and predicts in
    # 0.85x the time at the same AP after 4 minutes (benchmarks/README.md).
    prototype_channels: int = 32
    # Task-aligned assignment (see ``models.assigners``).
    assign_top_k: int = 10
    assign_alpha: float = 0.5
    assign_beta: float = 6.0
    # Class targets: 1 for every positive (False) or the rescaled alignment (True, as YOLOv8). Hard targets
    # learn faster from scratch: YOLACT nano at 4 minutes, mask AP 0.0235 against 0.0172 (benchmarks/README.md).
    assign_soft_targets: bool = False
    # Loss weights (YOLOv8-seg's gains; the one-image overfit check passes with them in 300 steps).
    class_weight: float = 0.5
    box_weight: float = 7.5
    mask_weight: float = 7.5
    semantic_weight: float = 1.0  # YOLACT++'s auxiliary semantic segmentation of the finest level
    mask_rescoring: bool = False  # YOLACT++'s mask re-scoring: score = class score x predicted mask IoU
    rescoring_weight: float = 1.0
    # Imitating a teacher (``instaseg train --teacher``): the gains of the class and mask terms they mirror.
    distill_class_weight: float = 0.5
    distill_mask_weight: float = 7.5
    # Prediction.
    pre_nms_candidates: int = 1000
    nms_threshold: float = 0.6
    mask_resolution: int = 56  # box-relative mask cells before pasting at full resolution
    mask_threshold: float = 0.5
    # Input normalisation.
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    size_divisibility: int = 32
