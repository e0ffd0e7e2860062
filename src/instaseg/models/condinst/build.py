"""Composing a CondInst from its config: CSP backbone, PAN neck, dense head, mask features, semantic branch."""

from __future__ import annotations

import math

from torch import nn

from instaseg.models.backbones import build_backbone
from instaseg.models.condinst.config import CondInstConfig
from instaseg.models.condinst.dynamic_mask import DynamicMaskNet
from instaseg.models.condinst.model import CondInst
from instaseg.models.dense import DenseHead, MaskFeatureNet
from instaseg.models.necks import PAN


def build_condinst(config: CondInstConfig, num_classes: int) -> CondInst:
    backbone = build_backbone(config.backbone)
    neck = PAN(backbone.out_channels[-3:])
    mask_net = DynamicMaskNet(config.mask_channels, config.dynamic_channels, config.dynamic_layers)
    head = DenseHead(neck.out_channels, num_classes, mask_net.num_params)
    mask_features = MaskFeatureNet(neck.out_channels[0], backbone.out_channels[0], config.mask_feature_hidden,
                                   config.mask_channels)
    semantic = nn.Conv2d(neck.out_channels[0], num_classes, 1)
    nn.init.constant_(semantic.bias, -math.log(99.0))
    return CondInst(backbone=backbone, neck=neck, head=head, mask_features=mask_features, mask_net=mask_net,
                    semantic=semantic, config=config)
