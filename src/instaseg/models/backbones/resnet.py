"""ResNet-18/50 feature levels (layer1..layer4, strides 4 to 32), GroupNorm by default, random init."""

from __future__ import annotations

from typing import Callable

from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models._utils import IntermediateLayerGetter

from instaseg.models.layers.norm import group_norm

_CONSTRUCTORS = {18: resnet18, 50: resnet50}
_STAGE_CHANNELS = {18: [64, 128, 256, 512], 50: [256, 512, 1024, 2048]}


class ResNetFeatures(IntermediateLayerGetter):
    """torchvision's ResNet up to layer4; returns {'0': layer1 (stride 4), ..., '3': layer4 (stride 32)}."""

    def __init__(self, depth: int, norm_layer: Callable[[int], nn.Module] = group_norm) -> None:
        if depth not in _CONSTRUCTORS:
            raise ValueError(f"ResNet depth must be one of {sorted(_CONSTRUCTORS)}; got {depth}")
        network = _CONSTRUCTORS[depth](weights=None, norm_layer=norm_layer)
        super().__init__(network, return_layers={f"layer{i}": str(i - 1) for i in range(1, 5)})
        self.out_channels = list(_STAGE_CHANNELS[depth])
        self.strides = [4, 8, 16, 32]
