"""MobileNetV3-Large feature levels (strides 8, 16, 32), GroupNorm by default, random init."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large

from instaseg.models.layers.norm import group_norm


class MobileNetV3Features(nn.Sequential):
    """MobileNetV3-Large's feature blocks; returns the last block of each stride: {'0': 8, '1': 16, '2': 32}."""

    def __init__(self, norm_layer: Callable[[int], nn.Module] = group_norm) -> None:
        features = mobilenet_v3_large(weights=None, norm_layer=norm_layer).features
        # A stage ends just before the next block that downsamples; the last block ends stride 32.
        downsampling = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
        stage_ends = ([i - 1 for i in downsampling][1:] + [len(features) - 1])[-3:]
        super().__init__(*list(features)[: stage_ends[-1] + 1])
        self.stage_ends = stage_ends
        self.out_channels = [_out_channels(features[i]) for i in stage_ends]
        self.strides = [8, 16, 32]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # (B, 3, H, W) -> 3 levels
        outputs = {}
        for index, block in enumerate(self):
            x = block(x)
            if index in self.stage_ends:
                outputs[str(len(outputs))] = x
        return outputs


def _out_channels(block: nn.Module) -> int:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
