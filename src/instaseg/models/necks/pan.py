"""Path aggregation network (Liu et al., 2018) as YOLOv8 builds it: a top-down pass that brings coarse context
to the fine levels, then a bottom-up pass that brings fine detail back to the coarse ones, C2f blocks at each
merge. BatchNorm and SiLU, so it folds for inference like the CSP backbone."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from instaseg.models.backbones.csp import C2f
from instaseg.models.layers.conv import ConvNormAct


class PAN(nn.Module):
    """The last three levels of a backbone, {name: (B, C_i, H_i, W_i)} at strides s, 2s, 4s -> the same names
    at ``out_channels`` (default: the input channels)."""

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int] | None = None, depth: int = 1) -> None:
        super().__init__()
        if len(in_channels) != 3:
            raise ValueError(f"PAN fuses three levels; got {len(in_channels)}")
        fine, middle, coarse = in_channels
        out_fine, out_middle, out_coarse = out_channels or in_channels
        self.top_down_middle = C2f(coarse + middle, out_middle, depth, shortcut=False)
        self.top_down_fine = C2f(out_middle + fine, out_fine, depth, shortcut=False)
        self.down_fine = ConvNormAct(out_fine, out_fine, 3, 2)
        self.bottom_up_middle = C2f(out_fine + out_middle, out_middle, depth, shortcut=False)
        self.down_middle = ConvNormAct(out_middle, out_middle, 3, 2)
        self.bottom_up_coarse = C2f(out_middle + coarse, out_coarse, depth, shortcut=False)
        self.out_channels = [out_fine, out_middle, out_coarse]

    def forward(self, levels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        names = list(levels)[-3:]
        fine, middle, coarse = (levels[name] for name in names)
        # Top-down: upsample the coarser map and merge it into the finer one.
        middle = self.top_down_middle(torch.cat([_upsample_to(coarse, middle), middle], dim=1))
        fine = self.top_down_fine(torch.cat([_upsample_to(middle, fine), fine], dim=1))
        # Bottom-up: stride-2 convolutions carry the fine detail back up.
        middle = self.bottom_up_middle(torch.cat([self.down_fine(fine), middle], dim=1))
        coarse = self.bottom_up_coarse(torch.cat([self.down_middle(middle), coarse], dim=1))
        return dict(zip(names, (fine, middle, coarse)))


def _upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsampling to ``like``'s size (odd sizes round differently at each stride)."""
    return F.interpolate(x, size=like.shape[-2:], mode="nearest")
