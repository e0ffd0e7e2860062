"""Backbones: (B, 3, H, W) -> an ordered dict of feature maps '0', '1', ... (finest first), built without
pretrained weights. Each declares ``out_channels`` and ``strides`` per level, so a neck can be built on it."""

from instaseg.models.backbones.csp import CSPBackbone
from instaseg.models.backbones.mobilenet import MobileNetV3Features
from instaseg.models.backbones.resnet import ResNetFeatures
from instaseg.models.backbones.registry import BACKBONES, build_backbone

__all__ = ["BACKBONES", "CSPBackbone", "MobileNetV3Features", "ResNetFeatures", "build_backbone"]
