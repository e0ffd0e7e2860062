"""YOLACT's dense head and prototype network.

Each neck level gets a decoupled head (as YOLOv8): a class branch, a box branch (distances from the point
to the four sides, in strides) and a coefficient branch (tanh, one per prototype). The prototype network
outputs ``k`` prototype masks at stride 2, shared by every instance.
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
    """The finest neck level (stride 8) and the backbone's stride-4 level -> (B, k, H/2, W/2) prototypes.

    At stride 4 a mask cannot hold the hole of a 14-pixel ring or a thin part (the ground truth itself, sent
    through stride-4 cells, keeps 0.91 mean IoU on a bench image; through stride-2 cells, 0.98), so the
    prototypes are made at stride 2, from upsampled context plus the backbone's stride-4 detail, with few
    channels where the maps are large.
    """

    def __init__(self, in_channels: int, detail_channels: int, channels: int, num_prototypes: int) -> None:
        super().__init__()
        self.context = ConvNormAct(in_channels, channels, 3)
        self.detail = ConvNormAct(detail_channels, channels, 1)
        self.stride4 = ConvNormAct(channels, channels // 2, 3)
        self.stride2 = ConvNormAct(channels // 2, channels // 2, 3)
        self.project = nn.Conv2d(channels // 2, num_prototypes, 1)

    def forward(self, finest: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        """(B, C, H/8, W/8) and (B, C_d, H/4, W/4) -> (B, k, H/2, W/2)."""
        x = F.interpolate(self.context(finest), size=detail.shape[-2:], mode="nearest") + self.detail(detail)
        x = F.interpolate(self.stride4(x), scale_factor=2.0, mode="nearest")
        return self.project(self.stride2(x))
