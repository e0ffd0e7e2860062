"""Composing a SOLOv2 from its config: CSP backbone, PAN neck of equal widths, grid head, mask features."""

from __future__ import annotations

from instaseg.models.backbones import build_backbone
from instaseg.models.dense import MaskFeatureNet
from instaseg.models.necks import PAN
from instaseg.models.solov2.config import Solov2Config
from instaseg.models.solov2.head import GridHead
from instaseg.models.solov2.model import Solov2


def build_solov2(config: Solov2Config, num_classes: int) -> Solov2:
    backbone = build_backbone(config.backbone)
    neck = PAN(backbone.out_channels[-3:], [config.head_channels] * 3)  # one tower pair serves every level
    head = GridHead(config.head_channels, num_classes, config.mask_channels, config.grids, config.head_channels,
                    config.head_depth)
    mask_features = MaskFeatureNet(config.head_channels, backbone.out_channels[0], config.mask_feature_hidden,
                                   config.mask_channels)
    return Solov2(backbone=backbone, neck=neck, head=head, mask_features=mask_features, config=config)
