"""SOLO's assignment: an object belongs to the levels whose size range holds sqrt(its area), and there to the
grid cells inside the central ``sigma`` share of its mask's extent around the mask's centre of mass (at most
one cell beyond the centre cell each way); a cell two objects claim keeps the smaller one."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from instaseg.structures.instances import Instances


@dataclass
class GridTargets:
    """What the cells of one image learn (cells of all levels concatenated, finest first)."""

    labels: torch.Tensor  # (cells,) int64 class, -1 for background
    owners: torch.Tensor  # (cells,) int64 index of the object, -1 for background


def grid_targets(target: Instances, padded_size: tuple[int, int], grids: tuple[int, ...],
                 scale_ranges: tuple[tuple[float, float], ...], sigma: float) -> GridTargets:
    height, width = padded_size
    device = target.labels.device
    labels, owners = [], []
    masks = target.masks
    areas = masks.flatten(1).sum(1).float()
    scales = areas.sqrt()
    if len(target):
        ys = torch.arange(masks.shape[1], device=device, dtype=torch.float32)
        xs = torch.arange(masks.shape[2], device=device, dtype=torch.float32)
        weights = masks.float()
        centre_y = (weights.sum(2) * ys).sum(1) / areas.clamp(min=1) + 0.5
        centre_x = (weights.sum(1) * xs).sum(1) / areas.clamp(min=1) + 0.5
        boxes = target.boxes.float()
        half_h, half_w = sigma * (boxes[:, 3] - boxes[:, 1]) / 2, sigma * (boxes[:, 2] - boxes[:, 0]) / 2
    for grid, (low, high) in zip(grids, scale_ranges):
        level_labels = torch.full((grid, grid), -1, dtype=torch.long, device=device)
        level_owners = torch.full((grid, grid), -1, dtype=torch.long, device=device)
        if len(target):
            chosen = ((scales >= low) & (scales <= high) & (areas > 0)).nonzero().squeeze(1)
            for index in chosen[areas[chosen].argsort(descending=True)].tolist():  # smaller objects win
                cy, cx = int(centre_y[index] / height * grid), int(centre_x[index] / width * grid)
                top = max(int((centre_y[index] - half_h[index]) / height * grid), 0, cy - 1)
                bottom = min(int((centre_y[index] + half_h[index]) / height * grid), grid - 1, cy + 1)
                left = max(int((centre_x[index] - half_w[index]) / width * grid), 0, cx - 1)
                right = min(int((centre_x[index] + half_w[index]) / width * grid), grid - 1, cx + 1)
                level_labels[top:bottom + 1, left:right + 1] = target.labels[index]
                level_owners[top:bottom + 1, left:right + 1] = index
        labels.append(level_labels.flatten())
        owners.append(level_owners.flatten())
    return GridTargets(torch.cat(labels), torch.cat(owners))
