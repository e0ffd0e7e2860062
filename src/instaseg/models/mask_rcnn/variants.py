"""Registered Mask R-CNN variants: one backbone each, a few lines per variant."""

from __future__ import annotations

from dataclasses import replace

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import MultiScaleRoIAlign

from instaseg.models.backbones import build_backbone
from instaseg.models.layers.norm import group_norm
from instaseg.models.mask_rcnn.config import MaskRCNNConfig
from instaseg.models.mask_rcnn.model import MaskRCNN
from instaseg.models.mask_rcnn.roi_heads import BoxMaskRoIHeads
from instaseg.models.registry import register_model


def build_mask_rcnn(config: MaskRCNNConfig, num_classes: int) -> MaskRCNN:
    """Compose backbone, RPN and RoI heads from ``config``; ``num_classes`` excludes background."""
    backbone = build_backbone(config.backbone, out_channels=config.fpn_channels)
    levels = [name for name in _feature_names(backbone) if name != "pool"]
    sizes = config.anchor_sizes[-(len(levels) + 1):]  # coarser backbones drop the finest anchors
    anchors = AnchorGenerator(sizes=tuple((s,) for s in sizes),
                              aspect_ratios=(tuple(config.anchor_ratios),) * len(sizes))
    rpn = RegionProposalNetwork(
        anchors, RPNHead(config.fpn_channels, len(config.anchor_ratios)),
        fg_iou_thresh=0.7, bg_iou_thresh=0.3, batch_size_per_image=config.rpn_batch_per_image,
        positive_fraction=0.5, nms_thresh=0.7,
        pre_nms_top_n={"training": config.rpn_pre_nms_train, "testing": config.rpn_pre_nms_test},
        post_nms_top_n={"training": config.rpn_post_nms_train, "testing": config.rpn_post_nms_test})
    fc_layers = [config.box_head_fc] * (1 if config.box_head_convs else 2)
    box_head = FastRCNNConvFCHead((config.fpn_channels, 7, 7), [config.box_head_channels] * config.box_head_convs,
                                  fc_layers, norm_layer=group_norm)
    mask_head = MaskRCNNHeads(config.fpn_channels, [config.mask_head_channels] * config.mask_head_convs, 1,
                              norm_layer=group_norm)
    roi_heads = BoxMaskRoIHeads(
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=box_head, box_predictor=FastRCNNPredictor(config.box_head_fc, num_classes + 1),
        fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=config.roi_batch_per_image,
        positive_fraction=0.25, bbox_reg_weights=None, score_thresh=config.score_threshold,
        nms_thresh=config.nms_threshold, detections_per_img=config.detections_per_image,
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2), mask_head=mask_head,
        mask_predictor=MaskRCNNPredictor(config.mask_head_channels, config.mask_head_channels, num_classes + 1))
    return MaskRCNN(backbone=backbone, rpn=rpn, roi_heads=roi_heads, pixel_mean=config.pixel_mean,
                    pixel_std=config.pixel_std, size_divisibility=config.size_divisibility,
                    mask_threshold=config.mask_threshold)


def _feature_names(backbone) -> list[str]:
    import torch

    with torch.no_grad():
        return list(backbone(torch.zeros(1, 3, 64, 64)).keys())


def _variant(backbone: str, num_classes: int, **overrides) -> MaskRCNN:
    return build_mask_rcnn(replace(MaskRCNNConfig(backbone=backbone), **overrides), num_classes)


@register_model
def mask_rcnn_r18_fpn(num_classes: int, **overrides) -> MaskRCNN:
    return _variant("resnet18", num_classes, **overrides)


@register_model
def mask_rcnn_r50_fpn(num_classes: int, **overrides) -> MaskRCNN:
    return _variant("resnet50", num_classes, **overrides)


@register_model
def mask_rcnn_mnv3_fpn(num_classes: int, **overrides) -> MaskRCNN:
    return _variant("mobilenet_v3", num_classes, **overrides)
