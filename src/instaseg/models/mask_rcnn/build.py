"""Composing a Mask R-CNN from its config: backbone, FPN neck, proposal network, RoI heads."""

from __future__ import annotations

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from instaseg.models.backbones import build_backbone
from instaseg.models.layers.norm import group_norm
from instaseg.models.mask_rcnn.config import MaskRCNNConfig
from instaseg.models.mask_rcnn.model import MaskRCNN
from instaseg.models.mask_rcnn.proposals import ProposalBudget, ProposalNetwork
from instaseg.models.mask_rcnn.roi_heads import BoxMaskRoIHeads
from instaseg.models.necks import FPN


def build_mask_rcnn(config: MaskRCNNConfig, num_classes: int) -> MaskRCNN:
    """``num_classes`` excludes background. (Modules are created in a fixed order: the seed decides the
    initial weights.)"""
    backbone = build_backbone(config.backbone)
    neck = FPN(backbone.out_channels, config.fpn_channels)
    levels = [str(index) for index in range(len(backbone.out_channels))]  # the 'pool' level only proposes
    sizes = config.anchor_sizes[-(len(levels) + 1):]  # coarser backbones drop the finest anchors
    anchors = AnchorGenerator(sizes=tuple((s,) for s in sizes),
                              aspect_ratios=(tuple(config.anchor_ratios),) * len(sizes))
    rpn = ProposalNetwork(
        anchors, RPNHead(config.fpn_channels, len(config.anchor_ratios)),
        train_budget=ProposalBudget(config.rpn_pre_nms_train, config.rpn_post_nms_train),
        test_budget=ProposalBudget(config.rpn_pre_nms_test, config.rpn_post_nms_test),
        batch_size_per_image=config.rpn_batch_per_image)
    fc_layers = [config.box_head_fc] * (1 if config.box_head_convs else 2)
    box_head = FastRCNNConvFCHead((config.fpn_channels, 7, 7), [config.box_head_channels] * config.box_head_convs,
                                  fc_layers, norm_layer=group_norm)
    mask_head = MaskRCNNHeads(config.fpn_channels, [config.mask_head_channels] * config.mask_head_convs, 1,
                              norm_layer=group_norm)
    roi_heads = BoxMaskRoIHeads(
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2),
        box_head=box_head, box_predictor=FastRCNNPredictor(config.box_head_fc, num_classes + 1),
        fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=config.roi_batch_per_image,
        positive_fraction=0.25, bbox_reg_weights=None,
        score_thresh=0.0, detections_per_img=0,  # unused: limits are arguments of ``detect``
        nms_thresh=config.nms_threshold,
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2), mask_head=mask_head,
        mask_predictor=MaskRCNNPredictor(config.mask_head_channels, config.mask_head_channels, num_classes + 1))
    return MaskRCNN(backbone=backbone, neck=neck, rpn=rpn, roi_heads=roi_heads, pixel_mean=config.pixel_mean,
                    pixel_std=config.pixel_std, size_divisibility=config.size_divisibility,
                    mask_threshold=config.mask_threshold)
