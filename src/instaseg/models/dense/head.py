"""The dense head of the single-stage families and the anchor points it predicts at.

Each neck level gets a decoupled head (as YOLOv8): a class branch, a box branch (distances from the point to
the four sides, in strides) and an instance branch whose output each family reads its own way (YOLACT: tanh
prototype coefficients; CondInst: the weights of a tiny per-instance mask network).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from instaseg.models.layers.conv import ConvNormAct


def _branch(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(ConvNormAct(in_channels, hidden, 3), ConvNormAct(hidden, hidden, 3),
                         nn.Conv2d(hidden, out_channels, 1))


class DenseHead(nn.Module):
    """Per level (B, C_l, H_l, W_l) -> class logits (B, H_l W_l, K), box distances (B, H_l W_l, 4) in strides,
    instance outputs (B, H_l W_l, E), concatenated over levels (finest first)."""

    def __init__(self, in_channels: list[int], num_classes: int, instance_channels: int,
                 instance_activation: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        class_hidden = max(in_channels[0], min(num_classes, 100))
        box_hidden = max(16, in_channels[0] // 4, 64)
        instance_hidden = max(in_channels[0] // 4, min(instance_channels, 64))
        self.classes = nn.ModuleList(_branch(c, class_hidden, num_classes) for c in in_channels)
        self.boxes = nn.ModuleList(_branch(c, box_hidden, 4) for c in in_channels)
        self.instances = nn.ModuleList(_branch(c, instance_hidden, instance_channels) for c in in_channels)
        self.instance_activation = instance_activation
        for branch in self.classes:  # a 1% prior: the early loss is not swamped by background
            nn.init.constant_(branch[-1].bias, -math.log(99.0))

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = lambda x: x.permute(0, 2, 3, 1).flatten(1, 2)  # (B, C, H, W) -> (B, H W, C); a view if channels-last
        classes = torch.cat([flat(branch(x)) for branch, x in zip(self.classes, levels)], dim=1)
        distances = torch.cat([flat(F.softplus(branch(x))) for branch, x in zip(self.boxes, levels)], dim=1)
        instances = torch.cat([flat(branch(x)) for branch, x in zip(self.instances, levels)], dim=1)
        if self.instance_activation is not None:
            instances = self.instance_activation(instances)
        return classes, distances, instances


def anchor_points(levels: list[torch.Tensor], padded_height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, 2) centres (x, y) in input pixels of every level's cells, finest first, and (A, 1) their strides."""
    points, strides = [], []
    for level in levels:
        height, width = level.shape[-2:]
        stride = padded_height / height
        ys = (torch.arange(height, device=level.device, dtype=level.dtype) + 0.5) * stride
        xs = (torch.arange(width, device=level.device, dtype=level.dtype) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1))
        strides.append(torch.full((height * width, 1), stride, device=level.device, dtype=level.dtype))
    return torch.cat(points), torch.cat(strides)


def decode_boxes(points: torch.Tensor, strides: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
    """(A, 2) points, (A, 1) strides and (B, A, 4) distances in strides (left, top, right, bottom) -> (B, A, 4)
    xyxy boxes in input pixels."""
    return torch.cat([points - distances[..., :2] * strides, points + distances[..., 2:] * strides], dim=-1)
