"""Pasting box-relative mask probabilities into full images, with exact pixel geometry.

Pixel (x, y) covers [x, x+1) x [y, y+1); each output pixel samples the box's mask at its centre, so a mask
cropped from an image by aligned RoIAlign pastes back onto the same pixels (torchvision's integer-rounded,
expanded boxes shift masks by half a pixel).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def paste_masks(probabilities: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int],
                threshold: float = 0.5) -> torch.Tensor:
    """Binary full-image masks from (P, M, M) box-relative probabilities, sampled bilinearly at pixel centres.

    Only the pixels near each box are computed, so memory is (P, H, W) booleans plus one box-sized float
    crop at a time, whatever the image size.

    Args:
        probabilities: (P, M, M) mask probabilities, cell (i, j) covering the box's i-th row and j-th column bin.
        boxes: (P, 4) xyxy boxes in output pixels.
        image_size: (H, W) of the output.
    Returns:
        (P, H, W) bool.
    """
    height, width = image_size
    masks = torch.zeros((len(boxes), height, width), dtype=torch.bool, device=boxes.device)
    for index, (mask, box) in enumerate(zip(probabilities, boxes.tolist())):
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            continue
        # Bilinear sampling reaches at most half a mask cell past the box; pixels beyond stay background.
        pad_x, pad_y = (x1 - x0) / mask.shape[-1], (y1 - y0) / mask.shape[-2]
        left, top = max(math.floor(x0 - pad_x), 0), max(math.floor(y0 - pad_y), 0)
        right, bottom = min(math.ceil(x1 + pad_x), width), min(math.ceil(y1 + pad_y), height)
        if right <= left or bottom <= top:
            continue
        # Normalised coordinates in [-1, 1] across the box (align_corners=False: -1 and 1 are the box edges).
        xs = (torch.arange(left, right, device=boxes.device, dtype=mask.dtype) + 0.5 - x0) / (x1 - x0) * 2 - 1
        ys = (torch.arange(top, bottom, device=boxes.device, dtype=mask.dtype) + 0.5 - y0) / (y1 - y0) * 2 - 1
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]  # (1, h, w, 2)
        crop = F.grid_sample(mask[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        masks[index, top:bottom, left:right] = crop[0, 0] > threshold
    return masks
