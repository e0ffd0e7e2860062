"""SOLOv2's grid head: per level, the features resized to S x S cells, a class tower (K logits per cell) and a
kernel tower (one 1x1 convolution kernel per cell, with the cell's normalised coordinates as input)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from instaseg.models.layers.conv import ConvNormAct


def _tower(in_channels: int, channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[ConvNormAct(in_channels if i == 0 else channels, channels, 3) for i in range(depth)])


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 2, H, W) with x and y in [-1, 1] appended (CoordConv)."""
    batch, _, height, width = x.shape
    ys = torch.linspace(-1, 1, height, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1, 1, width, device=x.device, dtype=x.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    coordinates = torch.stack([grid_x, grid_y])[None].expand(batch, -1, -1, -1)
    return torch.cat([x, coordinates], dim=1)


class GridHead(nn.Module):
    """Levels (B, C_l, H_l, W_l) -> class logits (B, sum S_l^2, K) and kernels (B, sum S_l^2, E), cells in
    row-major order per level, finest level first. One tower pair shared by the levels (SOLO's design), so
    the levels must have equal channels."""

    def __init__(self, in_channels: int, num_classes: int, kernel_channels: int, grids: tuple[int, ...],
                 channels: int, depth: int) -> None:
        super().__init__()
        self.grids = grids
        self.class_tower = _tower(in_channels, channels, depth)
        self.kernel_tower = _tower(in_channels + 2, channels, depth)
        self.classes = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.kernels = nn.Conv2d(channels, kernel_channels, 3, padding=1)
        nn.init.constant_(self.classes.bias, -math.log(99.0))  # a 1% prior, as for focal loss
        nn.init.normal_(self.kernels.weight, std=0.01)

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        flat = lambda x: x.flatten(2).transpose(1, 2)
        class_logits, kernels = [], []
        for level, grid in zip(levels, self.grids):
            cells = F.interpolate(coordinate_channels(level), size=(grid, grid), mode="bilinear",
                                  align_corners=False)
            kernels.append(flat(self.kernels(self.kernel_tower(cells))))
            class_logits.append(flat(self.classes(self.class_tower(cells[:, :-2]))))
        return torch.cat(class_logits, dim=1), torch.cat(kernels, dim=1)
