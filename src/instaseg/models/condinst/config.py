"""CondInst settings: a CSP backbone and PAN neck, the dense task-aligned head, stride-2 mask features and
a per-instance dynamic mask network."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CondInstConfig:
    backbone: str = "csp_nano"  # csp_nano | csp_small | csp_medium
    mask_channels: int = 8  # channels of the shared stride-2 mask features
    mask_feature_hidden: int = 64  # width of the network that makes them
    dynamic_channels: int = 8  # width of each instance's mask network (CondInst: 8)
    dynamic_layers: int = 3  # its 1x1 convolutions, the last one giving the mask logit
    mask_size: int = 28  # cells per side of an instance's mask, sampled inside its box
    # Task-aligned assignment (see ``models.assigners``).
    assign_top_k: int = 10
    assign_alpha: float = 0.5
    assign_beta: float = 6.0
    assign_soft_targets: bool = False  # 1 for every positive: faster from scratch (see YolactConfig)
    # Loss weights.
    class_weight: float = 0.5
    box_weight: float = 7.5
    mask_weight: float = 3.0  # dice + BCE of each positive's mask inside its object's box
    semantic_weight: float = 1.0  # the auxiliary semantic segmentation of the finest level
    # Prediction.
    pre_nms_candidates: int = 1000
    nms_threshold: float = 0.6
    mask_threshold: float = 0.5
    # Input normalisation.
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    size_divisibility: int = 32
