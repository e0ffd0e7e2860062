"""A contact sheet of pictures, for a one-glance preview of a dataset or a run."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np


def make_grid(images: Sequence[np.ndarray], columns: int | None = None, tile: int = 256,
              gap: int = 4, background: tuple[int, int, int] = (32, 32, 32)) -> np.ndarray:
    """Tile RGB images into one (H, W, 3) uint8 picture; each is fitted into a ``tile`` square, aspect kept."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    sheet = np.empty((rows * tile + (rows + 1) * gap, columns * tile + (columns + 1) * gap, 3), np.uint8)
    sheet[:] = background
    for index, image in enumerate(images):
        height, width = image.shape[:2]
        factor = tile / max(height, width)
        new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        fitted = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        row, col = divmod(index, columns)
        top = gap + row * (tile + gap) + (tile - new_h) // 2
        left = gap + col * (tile + gap) + (tile - new_w) // 2
        sheet[top:top + new_h, left:left + new_w] = fitted
    return sheet
