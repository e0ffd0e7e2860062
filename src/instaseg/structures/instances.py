"""The instances of one image: boxes, masks, class ids and optional scores, kept aligned."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np
import torch

from instaseg.structures.boxes import boxes_from_bitmaps
from instaseg.structures.masks import Mask, bitmaps_to_rles


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """(N, 4) float32 xyxy boxes of (N, H, W) bool masks (see ``structures.boxes``), on the masks' device."""
    boxes = boxes_from_bitmaps(masks.detach().cpu().numpy().astype(bool, copy=False))
    return torch.from_numpy(boxes).to(masks.device)


@dataclass
class Instances:
    """Instances of one image.

    Attributes:
        image_size: (height, width) of the image the instances live in.
        boxes: (N, 4) float boxes, xyxy in pixels.
        masks: (N, H, W) bool bitmaps at ``image_size``.
        labels: (N,) int64 class ids (contiguous, 0-based, as the model sees them).
        scores: (N,) float confidences, or None for ground truth.
    """

    image_size: tuple[int, int]
    boxes: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        height, width = self.image_size
        if self.boxes.shape != (n, 4):
            raise ValueError(f"boxes must be ({n}, 4); got {tuple(self.boxes.shape)}")
        if self.masks.shape != (n, height, width):
            raise ValueError(f"masks must be ({n}, {height}, {width}); got {tuple(self.masks.shape)}")
        if self.scores is not None and self.scores.shape != (n,):
            raise ValueError(f"scores must be ({n},); got {tuple(self.scores.shape)}")

    # Construction
    @classmethod
    def empty(cls, image_size: tuple[int, int], with_scores: bool = False) -> "Instances":
        height, width = image_size
        return cls(image_size=(height, width), boxes=torch.zeros((0, 4)),
                   masks=torch.zeros((0, height, width), dtype=torch.bool),
                   labels=torch.zeros((0,), dtype=torch.int64),
                   scores=torch.zeros((0,)) if with_scores else None)

    @classmethod
    def from_masks(cls, masks: torch.Tensor | np.ndarray, labels: Sequence[int] | torch.Tensor,
                   scores: Sequence[float] | torch.Tensor | None = None) -> "Instances":
        """Boxes are computed as the tight boxes of the masks."""
        masks_t = torch.as_tensor(np.asarray(masks) if isinstance(masks, np.ndarray) else masks).bool()
        labels_t = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        scores_t = None if scores is None else torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
        return cls(image_size=(int(masks_t.shape[1]), int(masks_t.shape[2])), boxes=boxes_from_masks(masks_t),
                   masks=masks_t, labels=labels_t, scores=scores_t)

    @classmethod
    def from_mask_objects(cls, masks: Sequence[Mask], labels: Sequence[int], image_size: tuple[int, int],
                          scores: Sequence[float] | None = None) -> "Instances":
        height, width = image_size
        stacked = (np.stack([m.to_bitmap() for m in masks]) if masks
                   else np.zeros((0, height, width), dtype=bool))
        return cls.from_masks(stacked, labels, scores)

    # Container behaviour
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | torch.Tensor | Sequence[int]) -> "Instances":
        """Select by an int, a slice, a bool mask or a list/tensor of indices; always returns Instances."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = torch.as_tensor(index)
            if index.dtype != torch.bool:
                index = index.long()
        return replace(self, boxes=self.boxes[index], masks=self.masks[index], labels=self.labels[index],
                       scores=None if self.scores is None else self.scores[index])

    @staticmethod
    def cat(items: Sequence["Instances"]) -> "Instances":
        if not items:
            raise ValueError("Instances.cat needs at least one Instances")
        sizes = {tuple(i.image_size) for i in items}
        if len(sizes) != 1:
            raise ValueError(f"cannot concatenate instances of different image sizes {sorted(sizes)}")
        has_scores = {i.scores is not None for i in items}
        if len(has_scores) != 1:
            raise ValueError("cannot concatenate instances with and without scores")
        return Instances(image_size=items[0].image_size,
                         boxes=torch.cat([i.boxes for i in items]), masks=torch.cat([i.masks for i in items]),
                         labels=torch.cat([i.labels for i in items]),
                         scores=torch.cat([i.scores for i in items]) if items[0].scores is not None else None)

    def to(self, device: torch.device | str) -> "Instances":
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    @property
    def device(self) -> torch.device:
        return self.boxes.device

    # Derived quantities
    def mask_areas(self) -> torch.Tensor:
        """(N,) pixel counts of the masks."""
        return self.masks.flatten(1).sum(dim=1)

    def box_areas(self) -> torch.Tensor:
        return ((self.boxes[:, 2] - self.boxes[:, 0]).clamp(min=0)
                * (self.boxes[:, 3] - self.boxes[:, 1]).clamp(min=0))

    def mask_rles(self) -> list[dict]:
        """COCO compressed RLEs (string counts) of the masks."""
        return bitmaps_to_rles(self.masks.cpu().numpy())

    def mask_objects(self) -> list[Mask]:
        return [Mask.from_rle(r) for r in self.mask_rles()]
