"""Backbones with feature pyramids, built without pretrained weights."""

from instaseg.models.backbones.fpn import BACKBONES, build_backbone

__all__ = ["BACKBONES", "build_backbone"]
