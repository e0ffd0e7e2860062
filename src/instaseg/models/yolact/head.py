"""YOLACT's dense head and prototype network.

Each neck level gets a decoupled head (as YOLOv8): a class branch, a box branch (distances from the point
to the four sides, in strides) and a coefficient branch (tanh, one per prototype). The prototype network
upsamples the finest level to stride 4 and outputs ``k`` prototype masks shared by every instance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from instaseg.models.layers.conv import ConvNormAct


def _branch(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(ConvNormAct(in_channels, hidden, 3), ConvNormAct(hidden, hidden, 3),
                         nn.Conv2d(hidden, out_channels, 1))


class DenseHead(nn.Module):
    """Per level (B, C_l, H_l, W_l) -> class logits (B, H_l W_l, K), box distances (B, H_l W_l, 4) in strides,
    mask coefficients (B, H_l W_l, k), concatenated over levels (finest first)."""

    def __init__(self, in_channels: list[int], num_classes: int, num_prototypes: int) -> None:
        super().__init__()
        class_hidden = max(in_channels[0], min(num_classes, 100))
        box_hidden = max(16, in_channels[0] // 4, 64)
        coefficient_hidden = max(in_channels[0] // 4, num_prototypes)
        self.classes = nn.ModuleList(_branch(c, class_hidden, num_classes) for c in in_channels)
        self.boxes = nn.ModuleList(_branch(c, box_hidden, 4) for c in in_channels)
        self.coefficients = nn.ModuleList(_branch(c, coefficient_hidden, num_prototypes) for c in in_channels)
        for branch in self.classes:  # a 1% prior: the early loss is not swamped by background
            nn.init.constant_(branch[-1].bias, -math.log(99.0))

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = lambda x: x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H W, C)
        classes = torch.cat([flat(branch(x)) for branch, x in zip(self.classes, levels)], dim=1)
        distances = torch.cat([flat(F.softplus(branch(x))) for branch, x in zip(self.boxes, levels)], dim=1)
        coefficients = torch.cat([flat(torch.tanh(branch(x))) for branch, x in zip(self.coefficients, levels)],
                                 dim=1)
        return classes, distances, coefficients


class PrototypeNet(nn.Module):
    """(B, C, H, W) at stride 8 -> (B, k, 2H, 2W) prototypes at stride 4 (small objects keep their shape)."""

    def __init__(self, in_channels: int, channels: int, num_prototypes: int) -> None:
        super().__init__()
        self.before = ConvNormAct(in_channels, channels, 3)
        self.after = nn.Sequential(ConvNormAct(channels, channels, 3), ConvNormAct(channels, channels, 3),
                                   nn.Conv2d(channels, num_prototypes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(F.interpolate(self.before(x), scale_factor=2.0, mode="nearest"))
