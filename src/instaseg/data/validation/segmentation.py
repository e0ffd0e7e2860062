"""Checks of an annotation's ``segmentation``: polygons and RLE (compressed or not), before rasterising.

Every check here runs before pycocotools sees the data, because pycocotools takes a 4-number polygon for
a box, and reads past the end of bad RLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instaseg.data.validation.problems import describe_value
from instaseg.structures.masks import polygons_to_rle, segmentation_to_rle
from instaseg.data.validation.values import NOT_JSON, Issue, is_number

# How far (pixels) a coordinate may stray outside the image before it is reported: float rounding.
EDGE_TOLERANCE = 1.0


def image_size_text(height: int, width: int) -> str:
    return f"width {width}, height {height}"


def outline_area(xs: np.ndarray, ys: np.ndarray) -> float:
    """Geometric (shoelace) area of one polygon; hand-written: pycocotools only counts rasterised pixels."""
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))


def polygon_outline(polygons: list[list[float]]) -> tuple[list[float], float]:
    """The box of all vertices (xywh) and the summed geometric area of valid polygons: what COCO's own
    annotations store for polygons, which can differ from the drawn pixels' by more than a pixel at thin
    tips."""
    coords = [np.asarray(p, dtype=np.float64) for p in polygons]
    xs, ys = np.concatenate([c[0::2] for c in coords]), np.concatenate([c[1::2] for c in coords])
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())]
    return box, sum(outline_area(c[0::2], c[1::2]) for c in coords)


def polygon_issue(polygon: Any, number: int, height: int | None, width: int | None) -> Issue | None:
    """What is wrong with one COCO polygon ``[x0, y0, x1, y1, ...]``, if anything.

    ``height``/``width`` None skips the check against the image's bounds.
    """
    name = f"polygon {number}"
    if not isinstance(polygon, list):
        return "polygon-invalid", f"{name} must be a list of numbers [x0, y0, x1, y1, ...]; got " \
                                  f"{describe_value(polygon)}"
    try:
        coords = np.asarray(polygon)  # (2K,)
    except ValueError:
        coords = np.asarray([None])
    if coords.ndim != 1 or coords.dtype.kind not in "iuf":
        odd_one = next((v for v in polygon if not isinstance(v, (int, float)) or isinstance(v, bool)),
                       polygon)
        return "polygon-invalid", f"{name} must hold only numbers; got {describe_value(odd_one)}"
    coords = coords.astype(np.float64)
    if not np.isfinite(coords).all():
        return "polygon-non-finite", f"{name} has NaN or infinite coordinates; {NOT_JSON}"
    count = coords.size
    if count < 6:
        if count % 2 == 0:
            points = f"{count // 2} point{'s' * (count != 2)}"
            return "polygon-too-few-points", f"{name} has {points}; needs at least 3"
        return "polygon-too-few-points", f"{name} has {count} numbers; needs at least 3 points (6 numbers)"
    if count % 2:
        return "polygon-odd-length", f"{name} has an odd number of coordinates ({count}); needs x, y pairs"
    xs, ys = coords[0::2], coords[1::2]
    if outline_area(xs, ys) < 1e-9:
        return "polygon-zero-area", (f"{name} has zero area (its {count // 2} points are collinear or "
                                     "repeated)")
    if height is not None and width is not None and (
            xs.min() < -EDGE_TOLERANCE or ys.min() < -EDGE_TOLERANCE
            or xs.max() > width + EDGE_TOLERANCE or ys.max() > height + EDGE_TOLERANCE):
        return "polygon-outside-image", (
            f"{name} reaches outside the image ({image_size_text(height, width)}): x from {xs.min():g} to "
            f"{xs.max():g}, y from {ys.min():g} to {ys.max():g}")
    return None


def is_flat_polygon(segmentation: list) -> bool:
    """One polygon written without its enclosing list: ``[x0, y0, ...]`` instead of ``[[x0, y0, ...]]``."""
    return bool(segmentation) and all(is_number(v) for v in segmentation)


@dataclass
class SegmentationCheck:
    """The outcome for one segmentation: its problems and, when it can be measured, a compressed RLE
    (and for polygons their outline).

    ``issues`` are (field, code, message). A compressed ``counts`` string is left in ``pending_counts``
    (with ``rle_size``) to be validated with all the others in one vectorised pass.
    """

    kind: str = ""  # "polygons", "rle" (compressed) or "uncompressed"
    issues: list[tuple[str, str, str]] = field(default_factory=list)
    rle: dict | None = None
    pending_counts: str | None = None
    rle_size: tuple[int, int] | None = None
    outline: tuple[list[float], float] | None = None  # polygons' vertex box and geometric area


def check_segmentation(segmentation: Any, height: int | None, width: int | None) -> SegmentationCheck:
    """Check a ``segmentation`` value (None when absent) against its image's size (None when unknown)."""
    result = SegmentationCheck()
    if segmentation is None:
        result.issues.append(("segmentation", "segmentation-missing",
                              "missing; every instance needs a mask (polygons or RLE)"))
    elif isinstance(segmentation, list):
        _check_polygons(segmentation, height, width, result)
    elif isinstance(segmentation, dict):
        _check_rle(segmentation, height, width, result)
    else:
        result.issues.append(("segmentation", "segmentation-invalid", "must be a list of polygons or an RLE "
                              f"object {{\"size\", \"counts\"}}; got {describe_value(segmentation)}"))
    return result


def _check_polygons(polygons: list, height: int | None, width: int | None, result: SegmentationCheck) -> None:
    result.kind = "polygons"
    if not polygons:
        result.issues.append(("segmentation", "segmentation-empty",
                              "is an empty list; every instance needs at least one polygon"))
        return
    if is_flat_polygon(polygons):
        result.issues.append(("segmentation", "segmentation-flat", "is a flat list of numbers; polygons "
                              "must be nested in a list: [[x0, y0, x1, y1, ...]]"))
        polygons = [polygons]
    blocking = False
    for number, polygon in enumerate(polygons):
        issue = polygon_issue(polygon, number, height, width)
        if issue is not None:
            result.issues.append(("segmentation", *issue))
            blocking = blocking or issue[0] != "polygon-outside-image"  # outside parts are clipped when drawn
    if not blocking and height is not None and width is not None:
        result.outline = polygon_outline(polygons)
        result.rle = polygons_to_rle(polygons, height, width)


def _check_rle(rle: dict, height: int | None, width: int | None, result: SegmentationCheck) -> None:
    result.kind = "rle"
    missing = [key for key in ("size", "counts") if key not in rle]
    if missing:
        result.issues.append(("segmentation", "rle-invalid", "an RLE object needs \"size\" and \"counts\"; "
                              f"missing {' and '.join(repr(k) for k in missing)}"))
        return
    size, counts = rle["size"], rle["counts"]
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        result.issues.append(("segmentation.size", "rle-invalid", "must be [height, width], two non-negative "
                              f"integers; got {describe_value(size)}"))
        return
    rle_height, rle_width = size
    if height is not None and width is not None and (rle_height, rle_width) != (height, width):
        hint = " (height and width swapped?)" if (rle_height, rle_width) == (width, height) else ""
        result.issues.append(("segmentation.size", "rle-size-mismatch", f"is [{rle_height}, {rle_width}] "
                              f"([height, width]) but the image is [{height}, {width}]{hint}"))
    if isinstance(counts, str):
        result.pending_counts, result.rle_size = counts, (rle_height, rle_width)
    elif isinstance(counts, list):
        result.kind = "uncompressed"
        _check_uncompressed_counts(counts, rle_height, rle_width, result)
    else:
        result.issues.append(("segmentation.counts", "rle-invalid", "must be a string (compressed RLE) or a "
                              f"list of run lengths (uncompressed RLE); got {describe_value(counts)}"))


def _check_uncompressed_counts(counts: list, height: int, width: int, result: SegmentationCheck) -> None:
    try:
        runs = np.asarray(counts)  # (R,)
    except ValueError:
        runs = np.asarray([None])
    if runs.size and (runs.ndim != 1 or runs.dtype.kind not in "iu" or (runs < 0).any()):
        result.issues.append(("segmentation.counts", "rle-invalid", "uncompressed RLE run lengths must be "
                              "non-negative integers"))
        return
    total = int(runs.sum()) if runs.size else 0
    if total != height * width:
        result.issues.append(("segmentation.counts", "rle-counts-sum", f"run lengths sum to {total}, but "
                              f"size [{height}, {width}] has {height * width} pixels"))
        return
    if not result.issues:
        result.rle = segmentation_to_rle({"size": [height, width], "counts": runs.tolist()}, height, width)
