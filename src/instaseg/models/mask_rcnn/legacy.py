"""Reading Mask R-CNN checkpoints of format 1 (before the model protocol): they stored only the options a run
changed, so the defaults of that time are frozen here, and the backbone and FPN have since become separate
modules (``backbone.body.*`` -> ``backbone.*``, ``backbone.fpn.*`` -> ``neck.*``)."""

from __future__ import annotations

from typing import Any, Mapping

# MaskRCNNConfig's defaults as format-1 checkpoints were written (never change these).
_V1_DEFAULTS: dict[str, Any] = {
    "fpn_channels": 128, "anchor_sizes": [16, 32, 64, 128, 256], "anchor_ratios": [0.5, 1.0, 2.0],
    "rpn_pre_nms_train": 1000, "rpn_post_nms_train": 500, "rpn_pre_nms_test": 500, "rpn_post_nms_test": 300,
    "rpn_batch_per_image": 256, "roi_batch_per_image": 128, "box_head_convs": 0, "box_head_channels": 128,
    "box_head_fc": 512, "mask_head_channels": 128, "mask_head_convs": 4, "nms_threshold": 0.5,
    "mask_threshold": 0.5, "pixel_mean": [0.485, 0.456, 0.406], "pixel_std": [0.229, 0.224, 0.225],
    "size_divisibility": 32,
}
_V1_BACKBONES = {"mask_rcnn_r18_fpn": "resnet18", "mask_rcnn_r50_fpn": "resnet50", "mask_rcnn_mnv3_fpn": "mobilenet_v3"}
# Format-1 options that are now arguments of ``predict`` (a floor the predictor's own settings replace).
_V1_PREDICTION_LIMITS = ("score_threshold", "detections_per_image")
_V1_PREFIXES = (("backbone.body.", "backbone."), ("backbone.fpn.", "neck."))


def is_v1_model(name: str) -> bool:
    return name in _V1_BACKBONES


def v1_config(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The full config of a format-1 checkpoint of model ``name`` with its stored ``options``."""
    config = {"backbone": _V1_BACKBONES[name], **_V1_DEFAULTS}
    config.update({k: v for k, v in options.items() if k not in _V1_PREDICTION_LIMITS})
    return config


def v1_weight_name(key: str) -> str:
    for old, new in _V1_PREFIXES:
        if key.startswith(old):
            return new + key[len(old):]
    return key
