"""Checks of an annotation's ``bbox`` and ``area``: their form, the image's bounds, and the mask's own."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from instaseg.data.validation.problems import describe_value
from instaseg.data.validation.segmentation import EDGE_TOLERANCE, image_size_text
from instaseg.data.validation.values import Issue, is_number, number_issue


def bbox_issue(bbox: Any) -> tuple[Issue | None, list[float] | None]:
    """Whether ``bbox`` is 4 finite numbers [x, y, width, height] with no negative size; and the box."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        return ("bbox-invalid", f"must be 4 numbers [x, y, width, height]; got {describe_value(bbox)}"), None
    for position, value in enumerate(bbox):
        if not is_number(value):
            return ("bbox-invalid", f"element {position} {number_issue(value)}"), None
    x, y, width, height = (float(v) for v in bbox)
    for name, size in (("width", width), ("height", height)):
        if size < 0:
            return ("bbox-negative-size", f"has negative {name} {size:g}; COCO boxes are "
                                          "[x, y, width, height], not corners"), None
    return None, [x, y, width, height]


def bbox_outside_issue(box: list[float], height: int, width: int) -> Issue | None:
    """Whether the box reaches more than ``EDGE_TOLERANCE`` pixels outside the image."""
    x, y, box_width, box_height = box
    sides = []
    if x < -EDGE_TOLERANCE:
        sides.append(f"left edge at x = {x:g}")
    if y < -EDGE_TOLERANCE:
        sides.append(f"top edge at y = {y:g}")
    if x + box_width > width + EDGE_TOLERANCE:
        sides.append(f"right edge at x = {x + box_width:g}")
    if y + box_height > height + EDGE_TOLERANCE:
        sides.append(f"bottom edge at y = {y + box_height:g}")
    if not sides:
        return None
    return "bbox-outside-image", (f"box [{x:g}, {y:g}, {box_width:g}, {box_height:g}] reaches outside the "
                                  f"image ({image_size_text(height, width)}): {', '.join(sides)}")


def area_issue(area: Any) -> Issue | None:
    if not is_number(area) or area < 0:
        return "area-invalid", (number_issue(area, "a non-negative number")
                                or f"must not be negative; got {area:g}")
    return None


def boxes_disagree(declared: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """(N,) True where a declared xywh box is far from the mask's box: an edge off by more than 2 px and
    10% of the mask's larger side (polygon boxes and raster boxes differ by up to a pixel)."""
    declared_corners = np.concatenate([declared[:, :2], declared[:, :2] + declared[:, 2:]], axis=1)  # (N, 4)
    measured_corners = np.concatenate([measured[:, :2], measured[:, :2] + measured[:, 2:]], axis=1)  # (N, 4)
    tolerance = np.maximum(2.0, 0.1 * measured[:, 2:].max(axis=1))
    return np.abs(declared_corners - measured_corners).max(axis=1) > tolerance


def areas_disagree(declared: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """(N,) True where a declared area is off the mask's pixel count by more than 20% and more than
    about half an outline (2 sqrt(area) + 4): COCO's polygon areas are geometric, not pixel counts."""
    return np.abs(declared - measured) > np.maximum(0.2 * measured, 2.0 * np.sqrt(measured) + 4.0)


def far_from_mask(declared: np.ndarray, measured: np.ndarray, outline: np.ndarray,
                  disagree: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """(N,) True where ``declared`` disagrees with the mask's own value and with the polygons' outline
    (NaN where the mask is not polygons), by ``disagree`` (``boxes_disagree`` or ``areas_disagree``).
    Rows with a NaN declared value are never flagged."""
    with np.errstate(invalid="ignore"):
        known_outline = np.isfinite(outline).reshape(len(outline), -1).all(axis=1)
        matches_outline = ~disagree(declared, outline) & known_outline
        return disagree(declared, measured) & ~matches_outline
