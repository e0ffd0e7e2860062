"""The in-memory form of an annotated dataset that every format reads into and writes from.

It mirrors COCO's object model (images, categories, annotations with ids) because COCO is the hub format:
every other format converts through it. Category ids are the user's ids, not contiguous model labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from instaseg.structures.masks import Mask


@dataclass
class Category:
    id: int
    name: str
    supercategory: str = ""


@dataclass
class Annotation:
    """One instance. ``bbox`` is COCO xywh in pixels; ``area`` the mask's pixel area when known."""

    id: int
    category_id: int
    mask: Mask | None
    bbox: list[float]
    iscrowd: bool = False
    area: float | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mask(cls, id: int, category_id: int, mask: Mask, iscrowd: bool = False,
                  score: float | None = None) -> "Annotation":
        """bbox and area computed from the mask, as pycocotools computes them."""
        return cls(id=id, category_id=category_id, mask=mask, bbox=mask.bbox_xywh, iscrowd=iscrowd,
                   area=float(mask.area), score=score)


@dataclass
class ImageRecord:
    """One image: ``file_name`` is relative to the dataset's image root."""

    id: int
    file_name: str
    width: int
    height: int
    annotations: list[Annotation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class InstanceDataset:
    """Images (each with its annotations) and categories; ``image_root`` is where ``file_name``s resolve."""

    images: list[ImageRecord]
    categories: list[Category]
    image_root: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.images)

    @property
    def num_annotations(self) -> int:
        return sum(len(image.annotations) for image in self.images)

    def category_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.categories}

    def image_path(self, image: ImageRecord) -> Path:
        root = self.image_root if self.image_root is not None else Path(".")
        return root / image.file_name

    def annotations(self) -> Iterator[tuple[ImageRecord, Annotation]]:
        for image in self.images:
            for annotation in image.annotations:
                yield image, annotation
