"""Cityscapes fine instance annotations (``*_gtFine_instanceIds.png``).

Layout (the official download, both archives unpacked in one folder)::

    ROOT/gtFine/<split>/<city>/<name>_gtFine_instanceIds.png
    ROOT/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png

A pixel value ``v >= 1000`` is instance ``v % 1000`` of label ``v // 1000``; ``v < 1000`` is label ``v``
without instance ids: for one of the 8 thing classes that is a crowd region (one iscrowd annotation per
class and image), for anything else it is stuff, which instance segmentation ignores. Category ids are
the Cityscapes label ids (person 24 ... bicycle 33). Caravan and trailer have instance ids but are not
among the evaluated classes, so they are skipped, and the reader says how many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from instaseg.data.formats.reporting import problems_error, report_note
from instaseg.data.images import ImageReadError, image_size
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask, bitmap_to_rle

# The thing classes of the Cityscapes label table (cityscapesscripts/helpers/labels.py) that are evaluated.
THING_CLASSES: dict[int, str] = {24: "person", 25: "rider", 26: "car", 27: "truck", 28: "bus", 31: "train",
                                 32: "motorcycle", 33: "bicycle"}
# Their category in the same table.
_SUPERCATEGORIES: dict[int, str] = {24: "human", 25: "human"}
# hasInstances but ignoreInEval in the same table.
SKIPPED_INSTANCE_CLASSES: dict[int, str] = {29: "caravan", 30: "trailer"}

INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
IMAGE_SUFFIX = "_leftImg8bit.png"


def _read_instance_ids(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{path}: not a readable instanceIds image ({error})") from None
    if array.ndim != 2:
        raise DatasetError(f"{path}: expected a single-channel instanceIds image, got shape {array.shape}")
    return array.astype(np.int64)


def _image_annotations(values: np.ndarray, first_id: int) -> tuple[list[Annotation], int]:
    """Annotations of one (H, W) instanceIds array and how many caravan/trailer instances were skipped."""
    annotations: list[Annotation] = []
    skipped = 0
    for value in np.unique(values).tolist():
        label = value // 1000 if value >= 1000 else value
        if label in SKIPPED_INSTANCE_CLASSES and value >= 1000:
            skipped += 1
        if label not in THING_CLASSES:
            continue
        mask = Mask.from_rle(bitmap_to_rle(values == value))
        crowd = value < 1000
        annotations.append(Annotation.from_mask(first_id + len(annotations), label, mask, iscrowd=crowd))
    return annotations, skipped


def read_cityscapes(source: str | Path, *, split: str | None = None,
                    notes: list[str] | None = None) -> InstanceDataset:
    """Read Cityscapes gtFine instance annotations with their leftImg8bit images.

    Args:
        source: the folder holding gtFine/ and leftImg8bit/ (or gtFine/ itself).
        split: 'train', 'val' or 'test'; every split present when None.
        notes: the count of skipped caravan/trailer instances goes here (Python warning without a list).

    Raises:
        DatasetError: listing missing or unreadable images and images whose size differs from their labels.
    """
    root = Path(source)
    if root.name == "gtFine":
        root = root.parent
    labels_dir, images_dir = root / "gtFine", root / "leftImg8bit"
    if not labels_dir.is_dir():
        raise DatasetError(f"{root}: no gtFine/ folder (expected gtFine/<split>/<city>/*{INSTANCE_SUFFIX})")
    pattern = f"{split}/*/*{INSTANCE_SUFFIX}" if split else f"*/*/*{INSTANCE_SUFFIX}"
    label_paths = sorted(labels_dir.glob(pattern))
    if not label_paths:
        raise DatasetError(f"{labels_dir}: no {pattern} files")

    problems: list[str] = []
    records: list[ImageRecord] = []
    next_annotation_id, skipped = 1, 0
    for image_id, label_path in enumerate(label_paths, start=1):
        relative = label_path.relative_to(labels_dir)  # <split>/<city>/<name>_gtFine_instanceIds.png
        base = relative.name[: -len(INSTANCE_SUFFIX)]
        file_name = (relative.parent / f"{base}{IMAGE_SUFFIX}").as_posix()
        try:
            height, width = image_size(images_dir / file_name)
        except ImageReadError as error:
            problems.append(f"{label_path}: its image: {error}")
            continue
        values = _read_instance_ids(label_path)  # (H, W)
        if values.shape != (height, width):
            problems.append(f"{label_path}: labels are {values.shape[1]}x{values.shape[0]} (WxH) but the "
                            f"image {file_name} is {width}x{height}")
            continue
        annotations, skipped_here = _image_annotations(values, next_annotation_id)
        next_annotation_id += len(annotations)
        skipped += skipped_here
        records.append(ImageRecord(image_id, file_name, width, height, annotations))
    if problems:
        raise problems_error(f"{root}: Cityscapes dataset", problems)
    if skipped:
        report_note(notes, f"{skipped} caravan/trailer instance(s) skipped: Cityscapes does not evaluate "
                           "those classes, so they are not among its 8 thing categories")
    categories = [Category(label, name, _SUPERCATEGORIES.get(label, "vehicle"))
                  for label, name in THING_CLASSES.items()]
    return InstanceDataset(images=records, categories=categories, image_root=images_dir,
                           info={"info": {"description": f"converted from Cityscapes {root}"}})
