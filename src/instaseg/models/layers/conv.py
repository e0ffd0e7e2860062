"""Convolution + normalisation + activation, and folding the normalisation into the convolution for inference.

BatchNorm (unlike GroupNorm) is an affine map per channel at inference, so it folds into the preceding
convolution's weights and bias: the folded network computes the same outputs with one operation less per
layer, which is most of the CPU cost a norm adds.
"""

from __future__ import annotations

import copy
from typing import Callable

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

NormLayer = Callable[[int], nn.Module]
Activation = Callable[[], nn.Module]


class ConvNormAct(nn.Sequential):
    """(B, C_in, H, W) -> (B, C_out, H / stride, W / stride): k x k convolution ('same' padding, no bias),
    ``norm`` (BatchNorm by default), ``act`` (SiLU by default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, *,
                 groups: int = 1, norm: NormLayer = nn.BatchNorm2d, act: Activation = nn.SiLU) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups,
                                   bias=False), norm(out_channels), act())


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) in which every BatchNorm that follows a convolution inside a
    ``ConvNormAct`` is folded into it and replaced by an identity; ``model`` itself is left as it is."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if isinstance(module, ConvNormAct) and isinstance(module[1], nn.BatchNorm2d):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return folded
