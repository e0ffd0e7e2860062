"""Mask R-CNN settings, with defaults sized for 256-640 px images and CPU training from scratch.

A checkpoint stores every field, so changing a default here never changes what an existing model predicts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MaskRCNNConfig:
    backbone: str = "resnet18"  # resnet18 | resnet50 | mobilenet_v3
    fpn_channels: int = 128
    # Anchors: one size per pyramid level (finest first), three aspect ratios everywhere.
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128, 256)
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    # RPN: proposals kept per image (and level) before NMS / per image after it, in training and prediction.
    rpn_pre_nms_train: int = 1000
    rpn_post_nms_train: int = 500
    rpn_pre_nms_test: int = 500
    rpn_post_nms_test: int = 300
    rpn_batch_per_image: int = 256
    # RoI heads.
    roi_batch_per_image: int = 128
    box_head_convs: int = 0  # 0: the paper's two-FC box head; 4: the GroupNorm "4conv1fc" head (10x the FLOPs)
    box_head_channels: int = 128
    box_head_fc: int = 512
    mask_head_channels: int = 128
    mask_head_convs: int = 4
    # Prediction (score threshold and detection count are arguments of ``predict``).
    nms_threshold: float = 0.5
    mask_threshold: float = 0.5
    # Input normalisation (ImageNet statistics: any fixed statistics work when training from scratch).
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    size_divisibility: int = 32
