"""Checks of the annotation records: ids, references, flags, masks, boxes and areas.

Record-by-record checks run in Python; decoding the compressed RLE strings and measuring every mask
(area, box) run once over all annotations, vectorised or in single pycocotools calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from instaseg.data.validation.boxes import (area_issue, areas_disagree, bbox_issue, bbox_outside_issue,
                                            boxes_disagree, far_from_mask)
from instaseg.structures.masks import rle_areas, rle_boxes_xywh
from instaseg.structures.rle_strings import compressed_rle_totals
from instaseg.data.validation.problems import ProblemLog, RecordLog, describe_value
from instaseg.data.validation.segmentation import SegmentationCheck, check_segmentation
from instaseg.data.validation.structure import ImageSlot, check_extra_fields, read_integer
from instaseg.data.validation.values import as_integer, number_issue

ANNOTATION_KEYS = frozenset({"id", "image_id", "category_id", "segmentation", "bbox", "area", "iscrowd",
                             "score"})


@dataclass
class _Measurable:
    """An annotation whose mask can be measured against its image, its box and its area."""

    record: RecordLog
    segmentation: SegmentationCheck
    box: list[float] | None  # declared xywh when valid and inside the image
    area: float | None  # declared when valid


def check_annotations(records: list, images: dict[int, ImageSlot], category_ids: set[int],
                      log: ProblemLog) -> None:
    """Check every annotation against the usable images and categories, adding problems to ``log``."""
    first_index: dict[int, int] = {}
    measurable: list[_Measurable] = []
    compressed: list[tuple[RecordLog, SegmentationCheck]] = []
    for index, entry in enumerate(records):
        record = log.record("annotations", index)
        if not isinstance(entry, dict):
            record.error("", "record-not-object", f"must be an object; got {describe_value(entry)}")
            continue
        record.image_id = as_integer(entry.get("image_id"))  # located by image from the first problem on
        annotation_id = read_integer(entry, "id", record)
        record.annotation_id = annotation_id
        if annotation_id is not None and annotation_id in first_index:
            record.error("id", "id-duplicate", f"duplicate annotation id {annotation_id}; annotations"
                         f"[{first_index[annotation_id]}] has it too")
        elif annotation_id is not None:
            first_index[annotation_id] = index
        image = _check_references(entry, images, category_ids, record)
        crowd = _check_flags(entry, record)
        check_extra_fields(entry, ANNOTATION_KEYS, record)

        height, width = (image.height, image.width) if image is not None and image.has_size else (None, None)
        segmentation = check_segmentation(entry.get("segmentation"), height, width)
        for field, code, message in segmentation.issues:
            record.error(field, code, message)
        if crowd and segmentation.kind == "polygons":
            record.warning("segmentation", "crowd-polygons", "a crowd annotation (iscrowd 1) should be an "
                           "RLE, as COCO expects; it has polygons")
        if segmentation.pending_counts is not None:
            compressed.append((record, segmentation))
        box, area = _check_box_and_area(entry, height, width, record)
        if height is not None and not segmentation.issues:
            measurable.append(_Measurable(record, segmentation, box, area))

    _check_compressed_rles(compressed)
    _check_measurements([m for m in measurable if m.segmentation.rle is not None])


def _check_references(entry: dict, images: dict[int, ImageSlot], category_ids: set[int],
                      record: RecordLog) -> ImageSlot | None:
    """The annotation's image (None when unknown); reports unknown image and category ids."""
    image_id = read_integer(entry, "image_id", record)
    image = None
    if image_id is not None:
        image = images.get(image_id)
        if image is None:
            record.error("image_id", "image-unknown", f"image {image_id} does not exist")
    category_id = read_integer(entry, "category_id", record)
    if category_id is not None and category_id not in category_ids:
        known = ", ".join(map(str, sorted(category_ids)[:10])) + (", ..." if len(category_ids) > 10 else "")
        record.error("category_id", "category-unknown", f"category {category_id} does not exist "
                     f"(categories: {known or 'none'})")
    return image


def _check_flags(entry: dict, record: RecordLog) -> bool:
    """Reports a bad ``iscrowd`` or ``score``; returns whether the annotation is a crowd."""
    crowd = entry.get("iscrowd", 0)
    if isinstance(crowd, bool):
        record.warning("iscrowd", "iscrowd-bool", f"should be 0 or 1; got {describe_value(crowd)}")
    elif crowd not in (0, 1) or isinstance(crowd, float):
        record.error("iscrowd", "iscrowd-invalid", f"must be 0 or 1; got {describe_value(crowd)}")
        return False
    score = entry.get("score")
    if score is not None and (issue := number_issue(score)) is not None:
        record.error("score", "score-invalid", issue)
    return bool(crowd)


def _check_box_and_area(entry: dict, height: int | None, width: int | None, record: RecordLog
                        ) -> tuple[list[float] | None, float | None]:
    """The declared box (when valid and inside the image) and area (when valid)."""
    box = None
    if "bbox" not in entry:
        record.error("bbox", "bbox-missing", "missing; COCO needs [x, y, width, height] (--fix computes it "
                     "from the mask)")
    else:
        issue, box = bbox_issue(entry["bbox"])
        if issue is None and height is not None and width is not None:
            issue = bbox_outside_issue(box, height, width)
        if issue is not None:
            record.error("bbox", *issue)
            box = None
    area = None
    if "area" not in entry:
        record.error("area", "area-missing", "missing (--fix computes it from the mask)")
    elif (issue := area_issue(entry["area"])) is not None:
        record.error("area", *issue)
    else:
        area = float(entry["area"])
    return box, area


def _check_compressed_rles(compressed: list[tuple[RecordLog, SegmentationCheck]]) -> None:
    """Decode every compressed ``counts`` string at once; keep an RLE for those that cover their size."""
    totals, malformed = compressed_rle_totals([check.pending_counts for _, check in compressed])
    for position, (record, check) in enumerate(compressed):
        height, width = check.rle_size
        if position in malformed:
            record.error("segmentation.counts", "rle-undecodable",
                         f"cannot be decoded: {malformed[position]}")
        elif totals[position] != height * width:
            record.error("segmentation.counts", "rle-counts-sum", f"run lengths sum to {totals[position]}, "
                         f"but size [{height}, {width}] has {height * width} pixels")
        elif not check.issues:
            check.rle = {"size": [height, width], "counts": check.pending_counts}


def _check_measurements(items: list[_Measurable]) -> None:
    """Empty masks are errors; boxes and areas far from the mask's own are warnings."""
    if not items:
        return
    rles = [item.segmentation.rle for item in items]
    areas = rle_areas(rles)  # (N,)
    boxes = rle_boxes_xywh(rles)  # (N, 4) xywh
    nowhere = ([np.nan] * 4, np.nan)
    declared_boxes = np.array([item.box if item.box is not None else nowhere[0] for item in items])  # (N, 4)
    declared_areas = np.array([item.area if item.area is not None else np.nan for item in items])  # (N,)
    outlines = [item.segmentation.outline or nowhere for item in items]
    box_flags = far_from_mask(declared_boxes, boxes, np.array([o[0] for o in outlines]), boxes_disagree)
    area_flags = far_from_mask(declared_areas, areas, np.array([o[1] for o in outlines]), areas_disagree)
    for position in np.flatnonzero((areas == 0) | box_flags | area_flags):
        item = items[position]
        if areas[position] == 0:
            item.record.error("segmentation", "mask-empty", "the mask covers no pixel of the image")
            continue
        if box_flags[position]:
            declared = ", ".join(f"{v:g}" for v in item.box)
            measured = ", ".join(f"{v:g}" for v in boxes[position])
            item.record.warning("bbox", "bbox-mismatch",
                                f"[{declared}] is far from the mask's box [{measured}]")
        if area_flags[position]:
            item.record.warning("area", "area-mismatch",
                                f"{item.area:g} is far from the mask's {areas[position]:g} pixels")
