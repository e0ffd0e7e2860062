"""``fix_coco``: a cleaned copy of a checked COCO payload, and the list of what was dropped and why.

Records with a problem that cannot be repaired are dropped (with whatever refers to them); boxes are
clipped to the image, boxes and areas recomputed from the mask, polygons that cannot be drawn dropped,
duplicate ids dropped (the first record keeps its id). Images without annotations are kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instaseg.data.validation.annotations import ANNOTATION_KEYS
from instaseg.data.validation.boxes import (area_issue, areas_disagree, bbox_issue, boxes_disagree,
                                            far_from_mask)
from instaseg.data.validation.problems import CheckReport, Problem
from instaseg.data.validation.segmentation import is_flat_polygon, polygon_issue, polygon_outline
from instaseg.data.validation.structure import CATEGORY_KEYS, IMAGE_KEYS, SECTION_NAMES
from instaseg.data.validation.values import as_integer, replace_non_finite
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask

_ANY_RECORD = {"integer-float", "extra-non-finite"}
# Error kinds the fixer repairs in place; every other error drops its record.
REPAIRABLE = {
    "categories": _ANY_RECORD,
    "images": _ANY_RECORD,
    "annotations": _ANY_RECORD | {
        "segmentation-flat", "polygon-invalid", "polygon-non-finite", "polygon-too-few-points",
        "polygon-odd-length", "polygon-zero-area", "polygon-outside-image", "bbox-missing", "bbox-invalid",
        "bbox-negative-size", "bbox-outside-image", "area-missing", "area-invalid"},
}


@dataclass
class FixResult:
    """The cleaned payload; ``dropped``: each dropped record and why; ``changed``: each repair made."""

    payload: dict[str, Any]
    dropped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def fix_coco(report: CheckReport) -> tuple[dict[str, Any], list[str]]:
    """A cleaned copy of ``report.payload`` that passes ``check_coco`` with no error, and what was dropped.

    Raises:
        DatasetError: when the file is not a COCO object with the three lists (nothing to repair from).
    """
    result = repair_coco(report)
    return result.payload, result.dropped


def _reason(problems: list[Problem]) -> str:
    """``annotation 17 (image 3): segmentation: polygon 0 has 2 points; ...`` (the first problem)."""
    first = problems[0]
    text = ": ".join(part for part in (first.location, first.field, first.message) if part)
    return text + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def _convert_fields(entry: dict, problems: list[Problem], known: frozenset[str]) -> dict:
    """A copy with integral floats made ints and NaN/Infinity in unknown fields made null."""
    entry = dict(entry)
    for problem in problems:
        if problem.code == "integer-float":
            entry[problem.field] = int(entry[problem.field])
    if any(p.code == "extra-non-finite" for p in problems):
        entry = {k: v if k in known else replace_non_finite(v) for k, v in entry.items()}
    return entry


def repair_coco(report: CheckReport) -> FixResult:
    """Like ``fix_coco``, also listing every repair (clipped box, recomputed area, dropped polygon...)."""
    fatal = report.fatal
    if not isinstance(report.payload, dict) or fatal:
        reasons = "; ".join(": ".join(filter(None, (p.location, p.field, p.message))) for p in fatal)
        raise DatasetError(f"{report.file}: cannot be fixed automatically: {reasons}")
    by_record: dict[tuple[str, int | None], list[Problem]] = defaultdict(list)
    for problem in report.problems:
        by_record[problem.section, problem.index].append(problem)
    payload = report.payload
    result = FixResult({k: replace_non_finite(v) for k, v in payload.items() if k not in SECTION_NAMES})

    categories = _fix_plain_records("categories", payload["categories"], CATEGORY_KEYS, by_record, result)
    images = _fix_plain_records("images", payload["images"], IMAGE_KEYS, by_record, result)
    image_sizes = {entry["id"]: (entry["height"], entry["width"]) for entry in images}
    category_ids = {entry["id"] for entry in categories}
    annotations = []
    for index, entry in enumerate(payload["annotations"]):
        fixed = _fix_annotation(entry, by_record.get(("annotations", index), []), index, image_sizes,
                                category_ids, result)
        if fixed is not None:
            annotations.append(fixed)
    result.payload.update(images=images, annotations=annotations, categories=categories)
    return result


def _fix_plain_records(section: str, records: list, known: frozenset[str],
                       by_record: dict[tuple[str, int | None], list[Problem]], result: FixResult
                       ) -> list[dict]:
    """The image or category records kept, with integral floats and NaN repaired."""
    kept = []
    for index, entry in enumerate(records):
        problems = by_record.get((section, index), [])
        blocking = [p for p in problems if p.is_error and p.code not in REPAIRABLE[section]]
        if blocking:
            result.dropped.append(_reason(blocking))
        else:
            kept.append(_convert_fields(entry, problems, known))
    return kept


def _fix_annotation(entry: Any, problems: list[Problem], index: int, image_sizes: dict[int, tuple[int, int]],
                    category_ids: set[int], result: FixResult) -> dict | None:
    """The repaired annotation, or None when it is dropped (the reason added to ``result.dropped``)."""
    blocking = [p for p in problems if p.is_error and p.code not in REPAIRABLE["annotations"]]
    if blocking:
        result.dropped.append(_reason(blocking))
        return None
    image_id, category_id = as_integer(entry["image_id"]), as_integer(entry["category_id"])
    where = Problem("", image_id=image_id, annotation_id=as_integer(entry["id"]), section="annotations",
                    index=index).location
    if image_id not in image_sizes:
        result.dropped.append(f"{where}: image_id: its image {image_id} was dropped")
        return None
    if category_id not in category_ids:
        result.dropped.append(f"{where}: category_id: its category {category_id} was dropped")
        return None
    if not problems:
        return entry
    entry = _convert_fields(entry, problems, ANNOTATION_KEYS)
    if isinstance(entry.get("iscrowd"), bool):
        entry["iscrowd"] = int(entry["iscrowd"])
    height, width = image_sizes[image_id]
    segmentation = entry["segmentation"]
    if isinstance(segmentation, list):
        segmentation = _fix_polygons(segmentation, height, width, where, result)
        if segmentation is None:
            return None
    mask = Mask.from_coco(segmentation, height, width)
    if mask.area == 0:
        result.dropped.append(f"{where}: segmentation: the mask covers no pixel of the image")
        return None
    if entry.get("iscrowd") == 1 and isinstance(segmentation, list):
        segmentation = mask.to_rle()
        result.changed.append(f"{where}: segmentation: crowd polygons encoded as RLE")
    entry["segmentation"] = segmentation
    outline = polygon_outline(segmentation) if isinstance(segmentation, list) else ([np.nan] * 4, np.nan)
    entry["bbox"] = _fixed_box(entry.get("bbox"), mask, outline[0], height, width, where, result)
    entry["area"] = _fixed_area(entry.get("area"), mask, outline[1], where, result)
    return entry


def _fix_polygons(segmentation: list, height: int, width: int, where: str, result: FixResult
                  ) -> list[list[float]] | None:
    """Polygons that can be drawn, traced again from the mask when some reach outside the image."""
    changes = []
    if is_flat_polygon(segmentation):
        segmentation = [segmentation]
        changes.append(f"{where}: segmentation: the flat list of numbers nested as one polygon")
    kept, outside, refused = [], False, []
    for number, polygon in enumerate(segmentation):
        issue = polygon_issue(polygon, number, height, width)
        if issue is None or issue[0] == "polygon-outside-image":
            kept.append([float(v) for v in polygon])
            outside = outside or issue is not None
        else:
            refused.append(issue[1])
    if not kept:
        result.dropped.append(f"{where}: segmentation: no polygon can be drawn ({'; '.join(refused)})")
        return None
    changes += [f"{where}: segmentation: dropped {reason}" for reason in refused]
    if outside:
        # Drawing clips to the image; tracing the drawn mask gives polygons inside it, pixel for pixel.
        kept = Mask.from_bitmap(Mask.from_polygons(kept, height, width).to_bitmap()).to_polygons()
        changes.append(f"{where}: segmentation: polygons clipped to the image")
    result.changed += changes
    return kept


def _fixed_box(bbox: Any, mask: Mask, outline_box: list[float], height: int, width: int, where: str,
               result: FixResult) -> list[float]:
    """The box clipped to the image; the mask's box instead when it is invalid or far from the mask."""
    measured = mask.bbox_xywh
    issue, box = bbox_issue(bbox) if bbox is not None else (("bbox-missing", ""), None)
    if box is not None:
        x1, y1 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
        x2, y2 = min(max(box[0] + box[2], 0.0), width), min(max(box[1] + box[3], 0.0), height)
        clipped = [x1, y1, x2 - x1, y2 - y1]
        if clipped != box:
            result.changed.append(f"{where}: bbox: clipped to the image")
        box = clipped
    if box is None or far_from_mask(np.array([box]), np.array([measured]), np.array([outline_box]),
                                    boxes_disagree)[0]:
        result.changed.append(f"{where}: bbox: computed from the mask")
        return measured
    return box


def _fixed_area(area: Any, mask: Mask, outline_area: float, where: str, result: FixResult) -> float:
    """The area as it is; the mask's pixel count instead when it is invalid or far from the mask."""
    measured = float(mask.area)
    if area is None or area_issue(area) is not None or far_from_mask(
            np.array([float(area)]), np.array([measured]), np.array([outline_area]), areas_disagree)[0]:
        result.changed.append(f"{where}: area: computed from the mask")
        return measured
    return area
