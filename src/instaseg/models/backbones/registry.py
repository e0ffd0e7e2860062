"""Backbones by name, for model configs (``backbone: str``)."""

from __future__ import annotations

from typing import Callable

from torch import nn

from instaseg.models.backbones.csp import CSPBackbone
from instaseg.models.backbones.mobilenet import MobileNetV3Features
from instaseg.models.backbones.resnet import ResNetFeatures

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": lambda **options: ResNetFeatures(18, **options),
    "resnet50": lambda **options: ResNetFeatures(50, **options),
    "mobilenet_v3": MobileNetV3Features,
    "csp_nano": lambda: CSPBackbone("nano"),
    "csp_small": lambda: CSPBackbone("small"),
    "csp_medium": lambda: CSPBackbone("medium"),
}


def build_backbone(name: str, **options) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**options)
