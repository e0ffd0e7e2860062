"""Model inputs: a list of images of any sizes -> one normalised, zero-padded batch tensor."""

from __future__ import annotations

from typing import Sequence

import torch


def normalize_and_pad(images: Sequence[torch.Tensor], pixel_mean: torch.Tensor, pixel_std: torch.Tensor,
                      size_divisibility: int = 32) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """(3, H_i, W_i) floats in [0, 1] -> ((B, 3, H, W) normalised batch whose sides are multiples of
    ``size_divisibility``, padded with zeros at the bottom and right; each image's (H_i, W_i)).

    ``pixel_mean`` and ``pixel_std`` are (3, 1, 1).
    """
    sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
    height = -(-max(s[0] for s in sizes) // size_divisibility) * size_divisibility
    width = -(-max(s[1] for s in sizes) // size_divisibility) * size_divisibility
    batch = images[0].new_zeros((len(images), 3, height, width))
    for slot, image in zip(batch, images):
        slot[:, : image.shape[-2], : image.shape[-1]] = (image - pixel_mean) / pixel_std
    return batch, sizes
