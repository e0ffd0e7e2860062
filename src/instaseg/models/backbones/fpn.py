"""Backbone + FPN builders: ResNet-18/50 and MobileNetV3-Large, GroupNorm throughout, random init.

Each returns a module mapping (B, 3, H, W) to an ordered dict of FPN maps '0'..'3' (strides 4 or 8 to 32)
and 'pool', with ``out_channels`` attribute, as torchvision's detection heads expect.
"""

from __future__ import annotations

from typing import Callable

from torch import nn
from torchvision.models import mobilenet_v3_large, resnet18, resnet50
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from instaseg.models.layers.norm import group_norm

NormLayer = Callable[[int], nn.Module]


def resnet_fpn(depth: int, out_channels: int = 128, norm_layer: NormLayer = group_norm) -> BackboneWithFPN:
    """ResNet-``depth`` (18 or 50) with an FPN over layer1..layer4 (strides 4, 8, 16, 32)."""
    constructors = {18: resnet18, 50: resnet50}
    body = constructors[depth](weights=None, norm_layer=norm_layer)
    stage_channels = [64, 128, 256, 512] if depth == 18 else [256, 512, 1024, 2048]
    return BackboneWithFPN(body, return_layers={f"layer{i}": str(i - 1) for i in range(1, 5)},
                           in_channels_list=stage_channels, out_channels=out_channels,
                           extra_blocks=LastLevelMaxPool(), norm_layer=norm_layer)


class _MobileNetStages(nn.Sequential):
    """MobileNetV3 feature blocks, returning the last block of each of the given output strides."""

    def __init__(self, features: nn.Sequential, return_indices: list[int]) -> None:
        super().__init__(*list(features)[: return_indices[-1] + 1])
        self.return_indices = set(return_indices)

    def forward(self, x):  # (B, 3, H, W) -> {'0': stride 8, '1': stride 16, '2': stride 32}
        outputs = {}
        for index, block in enumerate(self):
            x = block(x)
            if index in self.return_indices:
                outputs[str(len(outputs))] = x
        return outputs


class _MobileNetFPN(nn.Module):
    def __init__(self, body: _MobileNetStages, fpn: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body, self.fpn, self.out_channels = body, fpn, out_channels

    def forward(self, x):
        return self.fpn(self.body(x))


def mobilenet_v3_fpn(out_channels: int = 128, norm_layer: NormLayer = group_norm) -> nn.Module:
    """MobileNetV3-Large with an FPN over its stride 8, 16 and 32 stages."""
    from torchvision.ops import FeaturePyramidNetwork

    features = mobilenet_v3_large(weights=None, norm_layer=norm_layer).features
    # A stage ends just before the next block that downsamples; the last block ends stride 32.
    downsampling = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
    stage_ends = [i - 1 for i in downsampling][1:] + [len(features) - 1]  # strides 8, 16, 32
    stage_ends = stage_ends[-3:]
    channels = [_out_channels(features[i]) for i in stage_ends]
    fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=LastLevelMaxPool(), norm_layer=norm_layer)
    return _MobileNetFPN(_MobileNetStages(features, stage_ends), fpn, out_channels)


def _out_channels(block: nn.Module) -> int:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1].out_channels


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": lambda **kw: resnet_fpn(18, **kw),
    "resnet50": lambda **kw: resnet_fpn(50, **kw),
    "mobilenet_v3": mobilenet_v3_fpn,
}


def build_backbone(name: str, **options) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**options)
