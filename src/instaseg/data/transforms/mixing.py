"""Augmentations that combine training images: mosaic, instance-aware mixup and copy-paste.

Written here because torchvision.transforms.v2 and albumentations transform one image at a time: neither
does the cross-image bookkeeping (masks clipped at tile borders, covered pixels removed from occluded
instances). Images are uint8 (3, H, W) tensors, masks bool (N, H, W); boxes are derived from the masks
afterwards, and instances left too small are dropped there.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import gaussian_blur

PAD_VALUE = 114  # the grey that empty canvas shows (as YOLO's mosaic), neither black nor white


class Sample(NamedTuple):
    image: torch.Tensor  # (3, H, W) uint8
    masks: torch.Tensor  # (N, H, W) bool
    labels: torch.Tensor  # (N,) int64


def resize_sample(sample: Sample, height: int, width: int) -> Sample:
    """Bilinear image, nearest masks, to exactly (height, width)."""
    if sample.image.shape[-2:] == (height, width):
        return sample
    image = F.interpolate(sample.image[None].float(), size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)[0].round().clamp(0, 255).to(torch.uint8)
    masks = (F.interpolate(sample.masks[None].float(), size=(height, width), mode="nearest")[0] > 0.5
             if len(sample.masks) else sample.masks.new_zeros((0, height, width)))
    return Sample(image, masks, sample.labels)


def place(sample: Sample, height: int, width: int, top: int, left: int) -> Sample:
    """``sample`` on a (height, width) canvas with its top-left corner at (top, left), which may be negative:
    what falls outside is cut, the uncovered canvas is grey and belongs to no instance."""
    image = torch.full((3, height, width), PAD_VALUE, dtype=torch.uint8)
    masks = torch.zeros((len(sample.masks), height, width), dtype=torch.bool)
    source_h, source_w = sample.image.shape[-2:]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + source_h, height), min(left + source_w, width)
    if y1 > y0 and x1 > x0:
        image[:, y0:y1, x0:x1] = sample.image[:, y0 - top:y1 - top, x0 - left:x1 - left]
        masks[:, y0:y1, x0:x1] = sample.masks[:, y0 - top:y1 - top, x0 - left:x1 - left]
    return Sample(image, masks, sample.labels)


def mosaic(samples: list[Sample], size: int, generator: torch.Generator | None = None) -> Sample:
    """Four samples in a 2 x 2 grid on a ``size`` x ``size`` canvas around a random centre.

    Each sample is fitted to the canvas size (longer side) and placed with its inner corner at the centre,
    so each quadrant shows the part of its image nearest the centre; instances are clipped at the quadrant
    borders and relabelled by concatenation (their classes kept).
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic takes 4 samples, not {len(samples)}")
    low, high = size // 4, 3 * size // 4
    centre_y, centre_x = (int(v) for v in torch.randint(low, high + 1, (2,), generator=generator))
    images, masks, labels = torch.full((3, size, size), PAD_VALUE, dtype=torch.uint8), [], []
    for quadrant, sample in enumerate(samples):
        height, width = sample.image.shape[-2:]
        scale = size / max(height, width)
        fitted = resize_sample(sample, max(1, round(height * scale)), max(1, round(width * scale)))
        height, width = fitted.image.shape[-2:]
        bottom, right = quadrant >= 2, quadrant % 2 == 1
        top = centre_y if bottom else centre_y - height
        left = centre_x if right else centre_x - width
        placed = place(fitted, size, size, top, left)
        # Keep only this quadrant of the placed image (its corner sits at the centre; the rest is cut).
        rows = slice(centre_y, size) if bottom else slice(0, centre_y)
        columns = slice(centre_x, size) if right else slice(0, centre_x)
        images[:, rows, columns] = placed.image[:, rows, columns]
        quadrant_masks = torch.zeros_like(placed.masks)
        quadrant_masks[:, rows, columns] = placed.masks[:, rows, columns]
        masks.append(quadrant_masks)
        labels.append(placed.labels)
    return Sample(images, torch.cat(masks), torch.cat(labels))


def mixup(first: Sample, second: Sample, ratio: float) -> Sample:
    """``ratio`` x first + (1 - ratio) x second, second placed at the top-left of first's canvas; every
    instance of both kept (overlaps allowed: each object is still there, half-transparent)."""
    height, width = first.image.shape[-2:]
    second = place(second, height, width, 0, 0)
    image = (ratio * first.image.float() + (1 - ratio) * second.image.float()).round().to(torch.uint8)
    return Sample(image, torch.cat([first.masks, second.masks]), torch.cat([first.labels, second.labels]))


def copy_paste(target: Sample, source: Sample, chosen: torch.Tensor, blend: str = "gaussian",
               sigma: float = 1.0) -> Sample:
    """Paste ``source``'s instances selected by ``chosen`` (bool (N_source,)) onto ``target``.

    The source is placed at the target's top-left (cut or padded to its size). Target instances lose the
    pixels the pasted ones cover (an instance covered entirely becomes empty and is dropped later).

    Args:
        blend: 'hard' (the mask as is), 'gaussian' (mask edges softened by a Gaussian of ``sigma`` px, as in
            the copy-paste paper), or 'poisson' (OpenCV's seamless cloning of the pasted region).
    """
    height, width = target.image.shape[-2:]
    source = place(source, height, width, 0, 0)
    pasted_masks, pasted_labels = source.masks[chosen], source.labels[chosen]
    if not len(pasted_masks):
        return target
    covered = pasted_masks.any(0)
    if not covered.any():
        return target
    image = _blend(target.image, source.image, covered, blend, sigma)
    masks = torch.cat([target.masks & ~covered, pasted_masks])
    return Sample(image, masks, torch.cat([target.labels, pasted_labels]))


def _blend(background: torch.Tensor, foreground: torch.Tensor, region: torch.Tensor, blend: str, sigma: float
           ) -> torch.Tensor:
    if blend == "poisson":
        return _poisson(background, foreground, region)
    alpha = region.float()[None]  # (1, H, W)
    if blend == "gaussian":
        radius = max(1, int(round(3 * sigma)))
        alpha = gaussian_blur(alpha, kernel_size=[2 * radius + 1] * 2, sigma=[sigma, sigma])
    mixed = alpha * foreground.float() + (1 - alpha) * background.float()
    return mixed.round().clamp(0, 255).to(torch.uint8)


def _poisson(background: torch.Tensor, foreground: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Seamless cloning; both images padded so the region never touches the border (OpenCV requires it)."""
    import cv2

    pad = 2
    destination = np.ascontiguousarray(np.pad(background.permute(1, 2, 0).numpy(), ((pad,) * 2, (pad,) * 2, (0, 0)),
                                              mode="reflect"))
    source = np.ascontiguousarray(np.pad(foreground.permute(1, 2, 0).numpy(), ((pad,) * 2, (pad,) * 2, (0, 0)),
                                         mode="reflect"))
    mask = np.pad(region.numpy().astype(np.uint8) * 255, pad)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    centre = (int(x0 + (x1 - x0) // 2), int(y0 + (y1 - y0) // 2))  # OpenCV centres the mask's bounding box here
    cloned = cv2.seamlessClone(source, destination, mask, centre, cv2.NORMAL_CLONE)
    return torch.from_numpy(cloned[pad:-pad, pad:-pad]).permute(2, 0, 1).contiguous()
