"""A torch Dataset over an InstanceDataset: decoded images and ground-truth Instances, transformed.

Crowd annotations are left out of the training targets, as COCO defines them to be ignored. Items are asked
for by (epoch, index) and each one's augmentation is seeded from (seed, epoch, index): the epoch travels with
the sampled index, so persistent worker processes, a resumed run and the uninterrupted run all see exactly
the same samples.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from instaseg.data.images import read_image
from instaseg.data.records import ImageRecord, InstanceDataset
from instaseg.structures.instances import Instances

Transform = Callable[[torch.Tensor, Instances], tuple[torch.Tensor, Instances]]


class CategoryMap:
    """COCO category ids <-> contiguous model labels 0..K-1, in sorted id order."""

    def __init__(self, categories: list) -> None:
        ordered = sorted(categories, key=lambda c: c.id)
        self.ids = [c.id for c in ordered]
        self.names = [c.name for c in ordered]
        self._label_of = {c: k for k, c in enumerate(self.ids)}

    def label(self, category_id: int) -> int:
        return self._label_of[category_id]

    def category_id(self, label: int) -> int:
        return self.ids[label]

    def __len__(self) -> int:
        return len(self.ids)


def ground_truth(image: ImageRecord, categories: CategoryMap) -> Instances:
    """The image's non-crowd instances at its declared size, labels contiguous."""
    annotations = [a for a in image.annotations if not a.iscrowd and a.mask is not None]
    masks = (np.stack([a.mask.to_bitmap() for a in annotations]) if annotations
             else np.zeros((0, image.height, image.width), dtype=bool))
    return Instances.from_masks(torch.from_numpy(masks), [categories.label(a.category_id) for a in annotations])


class InstanceSegmentationDataset(Dataset):
    """Items are (image (3, H, W) float in [0, 1], target Instances, image id), asked for by ``(epoch,
    index)`` (a bare index means epoch 0)."""

    def __init__(self, dataset: InstanceDataset, transform: Transform, seed: int = 0) -> None:
        self.dataset = dataset
        self.categories = CategoryMap(dataset.categories)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset.images)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, Instances, int]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        record = self.dataset.images[index]
        pixels, target = self.raw(index)
        # Fork the RNG so seeding here never disturbs the caller's stream (workers=0 runs in-process).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash((self.seed, epoch, index)) % (2 ** 63))
            if getattr(self.transform, "mixes_images", False):
                image, target = self.transform(pixels, target, self.draw)
            else:
                image, target = self.transform(pixels, target)
        return image, target, record.id

    def raw(self, index: int) -> tuple[torch.Tensor, Instances]:
        """Image ``index`` as uint8 (3, H, W) and its ground truth, untransformed."""
        record = self.dataset.images[index]
        pixels = torch.from_numpy(read_image(self.dataset.image_path(record))).permute(2, 0, 1).contiguous()
        return pixels, ground_truth(record, self.categories)

    def draw(self) -> tuple[torch.Tensor, Instances]:
        """A training image chosen with the item's seeded generator, for mosaic, copy-paste and mixup."""
        return self.raw(int(torch.randint(len(self.dataset.images), ())))


def collate(batch: list[tuple[torch.Tensor, Instances, int]]
            ) -> tuple[list[torch.Tensor], list[Instances], list[int]]:
    """Keep images as a list: the model pads them into one batch itself."""
    images, targets, ids = zip(*batch)
    return list(images), list(targets), list(ids)
