"""A CSP backbone for CPUs (the CSPDarknet of YOLOv8, as its C2f blocks): BatchNorm and SiLU throughout, so
inference folds every norm into its convolution (``layers.fold_batch_norms``), in nano / small / medium widths.

Levels: {'0': stride 4, '1': stride 8, '2': stride 16, '3': stride 32}; the last ends in fast spatial pyramid
pooling (SPPF). With the PAN neck (``necks.pan``) at 320 x 320: nano 1.3 GFLOPs and 2.3 M parameters, small
5.1 GFLOPs and 9.0 M, medium 13.6 GFLOPs and 18.8 M.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from instaseg.models.layers.conv import ConvNormAct


@dataclass(frozen=True)
class CSPSize:
    channels: tuple[int, int, int, int, int]  # stem, then strides 4, 8, 16, 32
    depths: tuple[int, int, int, int]  # bottlenecks in the C2f block of each stride 4..32


CSP_SIZES = {
    "nano": CSPSize(channels=(16, 32, 64, 128, 256), depths=(1, 2, 2, 1)),
    "small": CSPSize(channels=(32, 64, 128, 256, 512), depths=(1, 2, 2, 1)),
    "medium": CSPSize(channels=(48, 96, 192, 384, 576), depths=(2, 4, 4, 2)),
}


class Bottleneck(nn.Module):
    """Two 3x3 convolutions, with a residual connection when ``shortcut``."""

    def __init__(self, channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.first = ConvNormAct(channels, channels, 3)
        self.second = ConvNormAct(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.second(self.first(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """Cross-stage partial block: split the channels in two, run bottlenecks on one half, and concatenate
    every intermediate map before a 1x1 fusion (cheap depth, a gradient path to each bottleneck)."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, shortcut: bool = True) -> None:
        super().__init__()
        hidden = out_channels // 2
        self.split = ConvNormAct(in_channels, 2 * hidden)
        self.blocks = nn.ModuleList(Bottleneck(hidden, shortcut) for _ in range(depth))
        self.fuse = ConvNormAct((2 + depth) * hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        parts = list(self.split(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.fuse(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools (receptive fields 5, 9, 13) concatenated."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.reduce = ConvNormAct(in_channels, hidden)
        self.pool = nn.MaxPool2d(kernel_size, stride=1, padding=kernel_size // 2)
        self.fuse = ConvNormAct(4 * hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = [self.reduce(x)]
        for _ in range(3):
            pooled.append(self.pool(pooled[-1]))
        return self.fuse(torch.cat(pooled, dim=1))


class CSPBackbone(nn.Module):
    """(B, 3, H, W) -> {'0': (B, C1, H/4, W/4), '1': H/8, '2': H/16, '3': (B, C4, H/32, W/32)}."""

    def __init__(self, size: str = "nano") -> None:
        super().__init__()
        if size not in CSP_SIZES:
            raise ValueError(f"unknown CSP size {size!r}; available: {', '.join(CSP_SIZES)}")
        channels, depths = CSP_SIZES[size].channels, CSP_SIZES[size].depths
        self.stem = ConvNormAct(3, channels[0], 3, 2)
        self.stages = nn.ModuleList()
        for index, depth in enumerate(depths):
            blocks = [ConvNormAct(channels[index], channels[index + 1], 3, 2),
                      C2f(channels[index + 1], channels[index + 1], depth)]
            if index == len(depths) - 1:
                blocks.append(SPPF(channels[-1], channels[-1]))
            self.stages.append(nn.Sequential(*blocks))
        self.out_channels = list(channels[1:])
        self.strides = [4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        levels = {}
        for index, stage in enumerate(self.stages):
            x = stage(x)
            levels[str(index)] = x
        return levels
