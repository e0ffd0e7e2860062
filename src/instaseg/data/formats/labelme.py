"""LabelMe JSON: one file per image, each with a list of shapes.

Shapes with area become instances: ``polygon``, ``rectangle`` (two corners), ``circle`` (centre and a
point on the rim) and ``mask`` (a base64 PNG covering the box given by its two points, newer LabelMe).
Shapes sharing a ``label`` and a non-null ``group_id`` are one instance (their union), as LabelMe's own
``labelme2coco`` groups them. ``line``, ``linestrip``, ``point`` and other types have no area: the reader
reports each one (file and shape index) as a warning.

Points are used as COCO polygon coordinates unchanged, as ``labelme2coco`` does. ``imagePath`` is
relative to the JSON file; image ``file_name``s are relative to the deepest folder holding every image.
Class names come from ``label``; category ids are 1..K in sorted name order unless a labels file gives
them: a text file with one name per line (ids 1, 2, ... in that order; LabelMe's ``__ignore__`` and
``_background_`` lines are skipped) or a JSON object ``{name: id}``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as mask_utils

from instaseg.data.formats.reporting import problems_error, report_note
from instaseg.data.images import ImageReadError, image_size
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask, bitmap_to_rle, polygons_to_rle

AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")
_SKIPPED_LABEL_LINES = ("__ignore__", "_background_")


class ShapeError(ValueError):
    """A shape that cannot be turned into a mask; the message names the field."""


def load_labels(labels: str | Path | dict[str, int]) -> dict[str, int]:
    """A name -> category id mapping from a dict, a JSON object file or a one-name-per-line text file."""
    if isinstance(labels, dict):
        return {str(name): int(category_id) for name, category_id in labels.items()}
    path = Path(labels)
    if not path.is_file():
        raise DatasetError(f"{path}: labels file not found")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            payload = json.loads(text)
            return {str(name): int(category_id) for name, category_id in payload.items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise DatasetError(f"{path}: expected a JSON object {{name: category id}}") from None
    names = [line.strip() for line in text.splitlines()]
    names = [name for name in names if name and name not in _SKIPPED_LABEL_LINES]
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: a class name is listed twice")
    return {name: index for index, name in enumerate(names, start=1)}


def _points(shape: dict[str, Any]) -> np.ndarray:
    """(P, 2) float points of a shape, checked."""
    try:
        points = np.asarray(shape.get("points"), dtype=np.float64)
    except (TypeError, ValueError):
        raise ShapeError("field points: expected a list of [x, y] numbers") from None
    if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
        raise ShapeError("field points: expected a list of [x, y] numbers")
    return points


def _circle_polygon(points: np.ndarray) -> list[float]:
    (cx, cy), rim = points
    radius = float(np.hypot(*(rim - (cx, cy))))
    # A vertex every 2 px of rim keeps the polygon within half a pixel of the circle.
    count = max(12, math.ceil(math.pi * radius))
    angles = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1).ravel().tolist()


def _mask_shape_rle(shape: dict[str, Any], points: np.ndarray, height: int, width: int) -> dict:
    """A ``mask`` shape: a base64 PNG whose top-left corner is the first point, truncated as LabelMe does."""
    if len(points) != 2:
        raise ShapeError(f"field points: a mask shape needs 2 points (its box), got {len(points)}")
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape.get("mask") or "", validate=True))) as image:
            local = np.asarray(image.convert("L")) > 0  # (h, w)
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError):
        raise ShapeError("field mask: not a base64-encoded PNG") from None
    canvas = np.zeros((height, width), dtype=bool)
    x0, y0 = int(points[0][0]), int(points[0][1])
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(y0 + local.shape[0], height), min(x0 + local.shape[1], width)
    if bottom > top and right > left:
        canvas[top:bottom, left:right] = local[top - y0:bottom - y0, left - x0:right - x0]
    return bitmap_to_rle(canvas)


def _shape_geometry(shape: dict[str, Any], shape_type: str, height: int, width: int) -> list[float] | dict:
    """A polygon (flat list) for polygon, rectangle and circle; an RLE for mask."""
    points = _points(shape)
    if shape_type == "mask":
        return _mask_shape_rle(shape, points, height, width)
    if shape_type == "polygon":
        if len(points) < 3:
            raise ShapeError(f"field points: a polygon needs at least 3 points, got {len(points)}")
        return points.ravel().tolist()
    if len(points) != 2:
        raise ShapeError(f"field points: a {shape_type} needs 2 points, got {len(points)}")
    if shape_type == "circle":
        return _circle_polygon(points)
    (x1, x2), (y1, y2) = sorted(points[:, 0]), sorted(points[:, 1])
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def _instance_mask(geometries: list[list[float] | dict], height: int, width: int) -> Mask:
    """One instance from its shapes' geometries: polygons stay polygons, any mask shape makes it RLE."""
    if all(isinstance(g, list) for g in geometries):
        return Mask.from_polygons(geometries, height, width)
    rles = [g if isinstance(g, dict) else polygons_to_rle([g], height, width) for g in geometries]
    return Mask.from_rle(mask_utils.merge(rles))


def _read_document(json_path: Path) -> dict[str, Any]:
    try:
        document = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{json_path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("shapes"), list):
        raise DatasetError(f"{json_path}: field shapes: missing; not a LabelMe file")
    if not isinstance(document.get("imagePath"), str) or not document["imagePath"]:
        raise DatasetError(f"{json_path}: field imagePath: missing (the image this file annotates)")
    return document


def _image_of(json_path: Path, document: dict[str, Any]) -> tuple[Path, int, int]:
    """The image file and its (height, width), checked against imageHeight / imageWidth."""
    # LabelMe on Windows writes backslashes.
    image_path = (json_path.parent / document["imagePath"].replace("\\", "/")).resolve()
    try:
        height, width = image_size(image_path)
    except ImageReadError as error:
        raise DatasetError(f"{json_path}: field imagePath: {error}") from None
    declared = (document.get("imageHeight"), document.get("imageWidth"))
    if declared != (None, None) and declared != (height, width):
        raise DatasetError(f"{json_path}: fields imageHeight/imageWidth say {declared[1]}x{declared[0]} "
                           f"(WxH) but {image_path.name} is {width}x{height}")
    return image_path, height, width


def read_labelme(source: str | Path, *, labels: str | Path | dict[str, int] | None = None,
                 notes: list[str] | None = None) -> InstanceDataset:
    """Read every LabelMe ``*.json`` under ``source`` (searched recursively).

    Args:
        source: a folder of LabelMe JSON files, or one such file.
        labels: class names and ids (see the module docstring); from the labels found when None.
        notes: warnings (shapes with no area) are appended here; Python warnings without a list.

    Raises:
        DatasetError: listing every bad file and shape (file, shape index, field), missing images and
            labels not in ``labels``.
    """
    source = Path(source)
    json_paths = [source] if source.is_file() else sorted(source.rglob("*.json"))
    if not json_paths:
        raise DatasetError(f"{source}: no LabelMe *.json files")
    label_ids = load_labels(labels) if labels is not None else None

    problems: list[str] = []
    # (json path, image path, height, width, [(label, geometries)])
    parsed: list[tuple[Path, Path, int, int, list[tuple[str, list]]]] = []
    owner_of_image: dict[Path, Path] = {}
    for json_path in json_paths:
        try:
            document = _read_document(json_path)
            image_path, height, width = _image_of(json_path, document)
        except DatasetError as error:
            problems.append(str(error))
            continue
        if image_path in owner_of_image:
            problems.append(f"{json_path}: field imagePath: {image_path} is already annotated by "
                            f"{owner_of_image[image_path]}")
            continue
        owner_of_image[image_path] = json_path
        groups: dict[Any, tuple[str, list]] = {}
        for index, shape in enumerate(document["shapes"]):
            where = f"{json_path}: shapes[{index}]"
            if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
                problems.append(f"{where}: field label: missing")
                continue
            label, shape_type = shape["label"], shape.get("shape_type") or "polygon"
            if shape_type not in AREA_SHAPES:
                report_note(notes, f"{where} (label {label!r}): shape_type {shape_type!r} has no area; "
                                   "skipped")
                continue
            if label_ids is not None and label not in label_ids:
                problems.append(f"{where}: field label: {label!r} is not in the labels file")
                continue
            try:
                geometry = _shape_geometry(shape, shape_type, height, width)
            except ShapeError as error:
                problems.append(f"{where} ({shape_type}): {error}")
                continue
            group_id = shape.get("group_id")
            key = ("group", label, group_id) if group_id is not None else ("shape", index)
            groups.setdefault(key, (label, []))[1].append(geometry)
        parsed.append((json_path, image_path, height, width, list(groups.values())))
    if problems:
        raise problems_error(f"{source}: LabelMe dataset", problems)

    if label_ids is None:
        names = sorted({label for *_, groups in parsed for label, _ in groups})
        label_ids = {name: index for index, name in enumerate(names, start=1)}
    image_root = Path(os.path.commonpath([str(image_path.parent) for _, image_path, *_ in parsed])) \
        if parsed else source
    records, annotation_id = [], 0
    for image_id, (_, image_path, height, width, groups) in enumerate(parsed, start=1):
        record = ImageRecord(image_id, image_path.relative_to(image_root).as_posix(), width, height)
        for label, geometries in groups:
            annotation_id += 1
            mask = _instance_mask(geometries, height, width)
            record.annotations.append(Annotation.from_mask(annotation_id, label_ids[label], mask))
        records.append(record)
    categories = [Category(category_id, name) for name, category_id in sorted(label_ids.items(),
                                                                              key=lambda item: item[1])]
    return InstanceDataset(images=records, categories=categories, image_root=image_root,
                           info={"info": {"description": f"converted from LabelMe {source}"}})
