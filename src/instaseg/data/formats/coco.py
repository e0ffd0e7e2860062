"""COCO instance-segmentation JSON: polygons, RLE (compressed and uncompressed), iscrowd, empty images.

``read_coco`` validates first (see ``instaseg.data.validation``) so a bad file fails at once with every
problem listed; ``coco_to_dataset`` and ``dataset_to_coco`` are the pure converters underneath.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.structures.masks import Mask
from instaseg.utils.files import atomic_write_json


def default_image_root(annotation_path: str | Path) -> Path:
    """Where ``file_name``s resolve when no image folder is given: ``images/`` beside the JSON if it
    exists (the layout ``instaseg data synth`` writes), else the JSON's own folder."""
    parent = Path(annotation_path).resolve().parent
    return parent / "images" if (parent / "images").is_dir() else parent


def coco_to_dataset(payload: dict[str, Any], image_root: Path | None = None) -> InstanceDataset:
    """Build an InstanceDataset from an already validated COCO dict. Images without annotations are kept."""
    categories = [Category(int(c["id"]), str(c["name"]), str(c.get("supercategory", "")))
                  for c in payload.get("categories", [])]
    images: dict[int, ImageRecord] = {}
    for entry in payload.get("images", []):
        extra = {k: v for k, v in entry.items() if k not in ("id", "file_name", "width", "height")}
        images[int(entry["id"])] = ImageRecord(int(entry["id"]), str(entry["file_name"]), int(entry["width"]),
                                               int(entry["height"]), extra=extra)
    known = {"id", "image_id", "category_id", "segmentation", "bbox", "iscrowd", "area", "score"}
    for entry in payload.get("annotations", []):
        image = images[int(entry["image_id"])]
        segmentation = entry.get("segmentation")
        mask = Mask.from_coco(segmentation, image.height, image.width) if segmentation else None
        bbox = [float(v) for v in entry["bbox"]] if entry.get("bbox") is not None else (
            mask.bbox_xywh if mask is not None else [0.0, 0.0, 0.0, 0.0])
        area = float(entry["area"]) if entry.get("area") is not None else (
            float(mask.area) if mask is not None else bbox[2] * bbox[3])
        image.annotations.append(Annotation(
            id=int(entry["id"]), category_id=int(entry["category_id"]), mask=mask, bbox=bbox,
            iscrowd=bool(entry.get("iscrowd", 0)), area=area,
            score=float(entry["score"]) if entry.get("score") is not None else None,
            extra={k: v for k, v in entry.items() if k not in known}))
    info = {k: v for k, v in payload.items() if k not in ("images", "annotations", "categories")}
    return InstanceDataset(images=list(images.values()), categories=categories, image_root=image_root, info=info)


def annotation_to_coco(annotation: Annotation, image_id: int, mask_format: str = "keep") -> dict[str, Any]:
    """One annotation as a COCO dict. ``mask_format``: keep the mask's own encoding, or force 'rle'.
    Crowd masks are always RLE, as COCO requires."""
    entry: dict[str, Any] = {"id": annotation.id, "image_id": image_id, "category_id": annotation.category_id}
    mask = annotation.mask
    if mask is not None:
        force_rle = mask_format == "rle" or annotation.iscrowd
        entry["segmentation"] = mask.to_rle() if force_rle else mask.to_coco()
    entry["area"] = float(annotation.area if annotation.area is not None else (mask.area if mask else 0.0))
    entry["bbox"] = [float(v) for v in annotation.bbox]
    entry["iscrowd"] = int(annotation.iscrowd)
    if annotation.score is not None:
        entry["score"] = float(annotation.score)
    entry.update(annotation.extra)
    return entry


def dataset_to_coco(dataset: InstanceDataset, mask_format: str = "keep") -> dict[str, Any]:
    payload: dict[str, Any] = dict(dataset.info)
    payload["images"] = [{"id": image.id, "file_name": image.file_name, "width": image.width,
                          "height": image.height, **image.extra} for image in dataset.images]
    payload["annotations"] = [annotation_to_coco(a, image.id, mask_format)
                              for image in dataset.images for a in image.annotations]
    payload["categories"] = [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
                             for c in dataset.categories]
    return payload


def write_coco(dataset: InstanceDataset, path: str | Path, mask_format: str = "keep") -> None:
    """Write COCO JSON atomically."""
    atomic_write_json(path, dataset_to_coco(dataset, mask_format))


def read_coco(path: str | Path, image_root: str | Path | None = None, *, check_images: bool = False
              ) -> InstanceDataset:
    """Validate then load a COCO JSON file.

    Args:
        path: the annotation file.
        image_root: folder ``file_name``s are relative to; ``default_image_root(path)`` when None.
        check_images: also open every image to check it exists, is readable and has the declared size.

    Raises:
        DatasetError: listing every problem found, each with the file, image id, annotation id and field.
    """
    from instaseg.data.validation import load_checked_coco

    return load_checked_coco(path, image_root, check_images=check_images)
