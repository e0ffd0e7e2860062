"""Augmentation settings: plain data, importable without torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    """Switches of the basic set; each can be turned off on its own."""

    hflip: float = 0.5  # probability
    scale_jitter: tuple[float, float] | None = (0.75, 1.25)  # factor on the fitted size; None: off
    crop: bool = True  # random crop to the training size (after jitter up-scales past it)
    color_jitter: float = 0.2  # brightness/contrast/saturation strength; 0: off
    min_visible_area: int = 16  # pixels; smaller remnants of cropped instances are dropped
