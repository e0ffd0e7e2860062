"""Exponential moving average of the weights, evaluated and saved alongside the raw weights."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """Keeps ``decay``-averaged weights; the decay ramps up over the first updates so early noise fades."""

    def __init__(self, model: nn.Module, decay: float = 0.999, ramp: int = 500) -> None:
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.updates = 0

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.ramp))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.current_decay()
        source = model.state_dict()
        averaged, live = [], []
        for name, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                averaged.append(value)
                live.append(source[name].detach())
            else:
                value.copy_(source[name])
        # One multi-tensor lerp instead of hundreds of small kernels: ema += (1 - decay) * (live - ema).
        torch._foreach_lerp_(averaged, live, 1.0 - decay)
