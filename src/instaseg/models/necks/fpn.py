"""Feature pyramid network (Lin et al., 2017): torchvision's, with an optional max-pooled extra level."""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from instaseg.models.layers.norm import group_norm


class FPN(FeaturePyramidNetwork):
    """{'0': (B, C0, H0, W0), ...} -> the same names at ``out_channels`` each, plus 'pool' (stride x2 of the
    coarsest level) when ``extra_pool``; lateral 1x1 and output 3x3 convolutions with ``norm_layer``."""

    def __init__(self, in_channels: Sequence[int], out_channels: int, *, extra_pool: bool = True,
                 norm_layer: Callable[[int], nn.Module] = group_norm) -> None:
        super().__init__(list(in_channels), out_channels, extra_blocks=LastLevelMaxPool() if extra_pool else None,
                         norm_layer=norm_layer)
        self.out_channels = out_channels
