"""Composing a YOLACT from its config: CSP backbone, PAN neck, dense head, prototypes, semantic branch."""

from __future__ import annotations

import math

import torch
from torch import nn

from instaseg.models.backbones import build_backbone
from instaseg.models.dense import DenseHead, MaskFeatureNet
from instaseg.models.necks import PAN
from instaseg.models.yolact.config import YolactConfig
from instaseg.models.yolact.model import Yolact
from instaseg.models.yolact.rescoring import MaskIoUHead


def build_yolact(config: YolactConfig, num_classes: int) -> Yolact:
    backbone = build_backbone(config.backbone)
    neck = PAN(backbone.out_channels[-3:])
    head = DenseHead(neck.out_channels, num_classes, config.num_prototypes, instance_activation=torch.tanh)
    prototypes = MaskFeatureNet(neck.out_channels[0], backbone.out_channels[0], config.prototype_channels,
                                config.num_prototypes)
    semantic = nn.Conv2d(neck.out_channels[0], num_classes, 1)
    nn.init.constant_(semantic.bias, -math.log(99.0))
    mask_iou = MaskIoUHead() if config.mask_rescoring else None
    return Yolact(backbone=backbone, neck=neck, head=head, prototypes=prototypes, semantic=semantic,
                  mask_iou=mask_iou, config=config)
