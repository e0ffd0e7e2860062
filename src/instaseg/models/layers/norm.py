"""Normalisation that trains from scratch with small batches."""

from __future__ import annotations

import math

from torch import nn


def group_norm(num_channels: int, max_groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with the most groups (up to ``max_groups``) that divide ``num_channels``.

    BatchNorm statistics are noise at the 2-8 images per batch a CPU trains with, and there are no
    pretrained statistics to freeze; GroupNorm does not depend on the batch (Wu & He, 2018).
    """
    return nn.GroupNorm(math.gcd(max_groups, num_channels), num_channels)
