"""Photometric augmentation on uint8 images: colour jitter (torchvision's, through OpenCV: ``color``), blur
from torchvision.transforms.v2, and additive Gaussian noise (v2's GaussianNoise works on float images only)."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from instaseg.data.transforms.color import ColorJitter
from instaseg.data.transforms.config import AugmentConfig


class AddGaussianNoise(torch.nn.Module):
    """uint8 image + N(0, std x 255), rounded and clamped to 0-255."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        noisy = image.float() + torch.randn(image.shape) * (self.std * 255)
        return noisy.round().clamp(0, 255).to(torch.uint8)


def photometric_steps(config: AugmentConfig) -> list:
    steps: list = []
    if config.color_jitter > 0:
        steps.append(ColorJitter(config.color_jitter, config.hue))
    if config.blur > 0:
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.3, 1.5))], p=config.blur))
    if config.noise > 0:
        steps.append(AddGaussianNoise(config.noise))
    return steps
