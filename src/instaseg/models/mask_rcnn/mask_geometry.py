"""Mask targets and mask pasting with exact pixel geometry: pixel (x, y) covers [x, x+1) x [y, y+1).

torchvision's Mask R-CNN samples targets with ``roi_align(aligned=False)`` and pastes through integer-rounded,
expanded boxes; both shift masks by half a pixel, which caps a perfectly fitted model at about 0.91 mask IoU
on small objects. Here targets use aligned RoIAlign and pasting samples each mask at the image's pixel
centres, so a ground-truth mask survives the round trip at about 0.99 IoU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def mask_targets(gt_masks: torch.Tensor, boxes: torch.Tensor, matched: torch.Tensor, size: int) -> torch.Tensor:
    """Soft ``size`` x ``size`` targets: the part of ground-truth mask ``matched[i]`` inside ``boxes[i]``.

    Args:
        gt_masks: (N, H, W) ground-truth masks of one image, any dtype.
        boxes: (P, 4) xyxy proposal boxes in image pixels.
        matched: (P,) index into ``gt_masks`` of each box's ground truth.
    Returns:
        (P, size, size) float in [0, 1].
    """
    if len(boxes) == 0:
        return boxes.new_zeros((0, size, size))
    rois = torch.cat([matched.to(boxes.dtype)[:, None], boxes], dim=1)
    sampled = roi_align(gt_masks[:, None].to(boxes.dtype), rois, (size, size), spatial_scale=1.0,
                        sampling_ratio=0, aligned=True)  # adaptive sampling averages over each bin
    return sampled[:, 0]


def mask_loss(mask_logits: torch.Tensor, boxes: list[torch.Tensor], gt_masks: list[torch.Tensor],
              gt_labels: list[torch.Tensor], matched: list[torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy of each positive box's own-class mask logits against its aligned target.

    Args:
        mask_logits: (P, C, M, M) for all images' positive boxes, concatenated.
        boxes, matched: per image, the positive boxes (P_i, 4) and their ground-truth indices (P_i,).
        gt_masks, gt_labels: per image, (N_i, H, W) masks and (N_i,) labels (background = 0).
    """
    size = mask_logits.shape[-1]
    if mask_logits.numel() == 0:
        return mask_logits.sum() * 0  # keeps the graph connected when an image batch has no positives
    labels = torch.cat([image_labels[index] for image_labels, index in zip(gt_labels, matched)])
    targets = torch.cat([mask_targets(masks, image_boxes, index, size)
                         for masks, image_boxes, index in zip(gt_masks, boxes, matched)])
    own_class = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(own_class, targets.to(own_class.dtype))


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
