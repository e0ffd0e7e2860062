"""SOLOv2 settings: a CSP backbone and PAN neck, one S x S grid per level, stride-2 mask features."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Solov2Config:
    backbone: str = "csp_nano"  # csp_nano | csp_small | csp_medium
    # One grid per PAN level (strides 8, 16, 32) and the object sizes, sqrt(area) in input pixels, it takes;
    # the ranges overlap so an object near a boundary trains two levels (SOLO's choice). Sized for ~320 px.
    grids: tuple[int, int, int] = (36, 24, 12)
    scale_ranges: tuple[tuple[float, float], ...] = ((0.0, 48.0), (24.0, 128.0), (64.0, 10000.0))
    centre_sigma: float = 0.2  # an object's positive cells: the central sigma share of its mask's extent
    head_channels: int = 96  # width of the class and kernel towers
    head_depth: int = 2  # 3x3 convolutions in each tower
    mask_channels: int = 32  # shared mask features; each kernel is a 1x1 convolution over them
    mask_feature_hidden: int = 64
    # Losses: focal loss for the grid classes, dice for masks (SOLO's weights).
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    class_weight: float = 1.0
    mask_weight: float = 3.0
    # Prediction.
    pre_nms_candidates: int = 500
    matrix_nms_sigma: float = 2.0
    mask_threshold: float = 0.5
    mask_resolution: int = 56  # box-relative mask cells before pasting at full resolution
    # Input normalisation.
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    size_divisibility: int = 32
