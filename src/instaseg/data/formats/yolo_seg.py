"""YOLO-seg polygon labels, in the layout Ultralytics trains from.

Layout::

    DIR/data.yaml                path, train, val, names ({index: name} or [name, ...])
    DIR/images/<split>/NAME.jpg
    DIR/labels/<split>/NAME.txt  one line per instance: ``class x1 y1 x2 y2 ...``

Coordinates are divided by the image width and height, so they lie in [0, 1]; class indices are 0-based.
An image with no label file, or an empty one, is an image with no instances. Each line holds ONE polygon,
so a mask with holes or several parts is written as one ring joined by zero-width bridges
(``Mask.to_polygons(join_all=True)``); even-odd filling, as pycocotools does, gives the holes back.

Class index ``k`` is the ``k``-th category in sorted id order. YOLO-seg has no category ids, so the writer
also stores the original ids in data.yaml as ``coco_category_ids`` (Ultralytics ignores the key) and the
reader uses them when present, else ids ``k + 1``. Image ``file_name``s read from a dataset are relative
to ``DIR/images`` (so they start with the split folder); the writer puts every image under one split.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from instaseg.data.formats.reporting import format_ids, problems_error, report_note
from instaseg.data.images import ImageReadError, image_size, list_images
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask, bitmap_to_polygons
from instaseg.utils.files import atomic_write_text, copy_file

# Coordinates this far outside [0, 1] are rounding noise from the tool that wrote them and are clipped.
COORDINATE_TOLERANCE = 1e-3
# Reading


def _find_yaml(source: Path) -> Path:
    if source.is_file():
        return source
    if not source.is_dir():
        raise DatasetError(f"{source}: no such YOLO-seg dataset folder or data.yaml")
    if (source / "data.yaml").is_file():
        return source / "data.yaml"
    candidates = sorted(source.glob("*.yaml")) + sorted(source.glob("*.yml"))
    if len(candidates) != 1:
        raise DatasetError(f"{source}: expected one data.yaml (its `names` give the class names); found "
                           f"{len(candidates)} YAML files")
    return candidates[0]


def _dataset_root(yaml_path: Path, config: dict[str, Any]) -> Path:
    """The folder holding images/ and labels/: beside the YAML, else its ``path`` key."""
    if (yaml_path.parent / "images").is_dir() or "path" not in config:
        return yaml_path.parent
    declared = Path(str(config["path"]))
    return declared if declared.is_absolute() else (yaml_path.parent / declared)


def _parse_names(yaml_path: Path, config: dict[str, Any]) -> dict[int, str]:
    names = config.get("names")
    if isinstance(names, list):
        return {index: str(name) for index, name in enumerate(names)}
    if isinstance(names, dict):
        parsed: dict[int, str] = {}
        for key, name in names.items():
            try:
                parsed[int(key)] = str(name)
            except (TypeError, ValueError):
                raise DatasetError(f"{yaml_path}: field names: key {key!r} is not a class index") from None
        return parsed
    raise DatasetError(f"{yaml_path}: field names: expected a list or a {{index: name}} mapping, "
                       f"got {type(names).__name__}")


def _category_ids(yaml_path: Path, config: dict[str, Any], names: dict[int, str]) -> dict[int, int]:
    """Class index -> category id: ``coco_category_ids`` when the file has it, else index + 1."""
    stored = config.get("coco_category_ids")
    if stored is None:
        return {index: index + 1 for index in names}
    if (not isinstance(stored, list) or len(stored) != len(names) or len(set(stored)) != len(stored)
            or not all(isinstance(v, int) for v in stored)):
        raise DatasetError(f"{yaml_path}: field coco_category_ids: expected {len(names)} distinct integers, "
                           f"one per class, got {stored!r}")
    return {index: stored[position] for position, index in enumerate(sorted(names))}


def _parse_line(line: str, where: str, names: dict[int, str], height: int, width: int
                ) -> tuple[int, list[float]] | str:
    """One label line -> (class index, pixel polygon), or the problem with it as a message."""
    tokens = line.split()
    try:
        class_value = float(tokens[0])
    except ValueError:
        return f"{where}: class {tokens[0]!r} is not a number"
    if not class_value.is_integer():
        return f"{where}: class {tokens[0]!r} is not an integer"
    class_index = int(class_value)
    if class_index not in names:
        return f"{where}: class {class_index} is not in data.yaml names (0..{max(names, default=-1)})"
    try:
        values = [float(t) for t in tokens[1:]]
    except ValueError:
        bad = next(t for t in tokens[1:] if not _is_float(t))
        return f"{where}: coordinate {bad!r} is not a number"
    if not all(math.isfinite(v) for v in values):
        return f"{where}: coordinates must be finite numbers"
    if len(values) % 2:
        return f"{where}: odd number of coordinates ({len(values)}); expected x y pairs"
    if len(values) == 4:
        return f"{where}: 4 numbers look like a detection box (cx cy w h); YOLO-seg lines are polygons"
    if len(values) < 6:
        return f"{where}: a polygon needs at least 3 points; got {len(values) // 2}"
    outside = [v for v in values if v < -COORDINATE_TOLERANCE or v > 1 + COORDINATE_TOLERANCE]
    if outside:
        return f"{where}: coordinate {outside[0]:g} is outside [0, 1]; YOLO-seg coordinates are normalised"
    scale = [width, height] * (len(values) // 2)
    return class_index, [min(max(v, 0.0), 1.0) * s for v, s in zip(values, scale)]


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_yolo_seg(source: str | Path, *, notes: list[str] | None = None) -> InstanceDataset:
    """Read a YOLO-seg dataset: the folder holding data.yaml, images/ and labels/, or the data.yaml itself.

    Args:
        source: dataset folder or its YAML file.
        notes: warnings about the source (label files without an image) are appended here; without a
            list they are raised as Python warnings.

    Raises:
        DatasetError: listing every bad line with its file and line number, and unreadable images.
    """
    yaml_path = _find_yaml(Path(source))
    try:
        config = yaml.safe_load(yaml_path.read_text(encoding="utf-8-sig")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise DatasetError(f"{yaml_path}: not valid YAML ({error})") from None
    if not isinstance(config, dict):
        raise DatasetError(f"{yaml_path}: expected a mapping with `names`, got {type(config).__name__}")
    names = _parse_names(yaml_path, config)
    category_of_class = _category_ids(yaml_path, config, names)
    root = _dataset_root(yaml_path, config)
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir():
        raise DatasetError(f"{root}: no images/ folder (expected images/<split>/... and labels/<split>/...)")

    problems: list[str] = []
    records: list[ImageRecord] = []
    annotation_id = 0
    image_paths = list_images(images_dir)
    for image_id, image_path in enumerate(image_paths, start=1):
        relative = image_path.relative_to(images_dir)
        try:
            height, width = image_size(image_path)
        except ImageReadError as error:
            problems.append(str(error))
            continue
        record = ImageRecord(image_id, relative.as_posix(), width, height)
        records.append(record)
        label_path = labels_dir / relative.with_suffix(".txt")
        if not label_path.is_file():
            continue
        try:
            text = label_path.read_text(encoding="utf-8-sig")  # -sig: Windows editors start files with a BOM
        except UnicodeDecodeError:
            problems.append(f"{label_path}: not a UTF-8 text file")
            continue
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parsed = _parse_line(line, f"{label_path}:{line_number}", names, height, width)
            if isinstance(parsed, str):
                problems.append(parsed)
                continue
            class_index, polygon = parsed
            annotation_id += 1
            mask = Mask.from_polygons([polygon], height, width)
            category_id = category_of_class[class_index]
            record.annotations.append(Annotation.from_mask(annotation_id, category_id, mask))
    if problems:
        raise problems_error(f"{root}: YOLO-seg dataset", problems)

    image_stems = {p.relative_to(images_dir).with_suffix("") for p in image_paths}
    label_files = sorted(labels_dir.rglob("*.txt")) if labels_dir.is_dir() else []
    orphans = [p for p in label_files if p.relative_to(labels_dir).with_suffix("") not in image_stems]
    if orphans:
        report_note(notes, f"{len(orphans)} label file(s) have no image and were not read: "
                           f"{format_ids([str(p) for p in orphans], 5)}")
    categories = [Category(category_of_class[index], names[index]) for index in sorted(names)]
    return InstanceDataset(images=records, categories=categories, image_root=images_dir,
                           info={"info": {"description": f"converted from YOLO-seg {root}"}})


# Writing


def _instance_polygon(annotation: Annotation, height: int, width: int) -> list[float] | None:
    """The instance as ONE pixel polygon; None when its mask is empty."""
    if annotation.mask is None:  # box only: the box rectangle is the best shape there is
        x, y, w, h = annotation.bbox
        return [x, y, x + w, y, x + w, y + h, x, y + h]
    polygons = annotation.mask.to_polygons(join_all=True)
    flat = [v for polygon in polygons for v in polygon]
    if flat and (min(flat[0::2]) < 0 or max(flat[0::2]) > width or min(flat[1::2]) < 0
                 or max(flat[1::2]) > height):
        # A polygon reaching outside the image cannot be clipped vertex by vertex; trace what is inside.
        polygons = bitmap_to_polygons(annotation.mask.to_bitmap(), join_all=True)
    return polygons[0] if polygons else None


def _label_line(class_index: int, polygon: list[float], height: int, width: int, decimals: int) -> str:
    scale = [width, height] * (len(polygon) // 2)
    coordinates = " ".join(f"{min(max(v / s, 0.0), 1.0):.{decimals}f}" for v, s in zip(polygon, scale))
    return f"{class_index} {coordinates}"


def _relative_file_name(image: ImageRecord) -> Path:
    relative = Path(image.file_name)
    if relative.is_absolute() or ".." in relative.parts:
        raise DatasetError(f"image id {image.id}: field file_name {image.file_name!r} must be a path inside "
                           "the image folder to be copied into the output layout")
    return relative


def write_yolo_seg(dataset: InstanceDataset, out: str | Path, *, split: str = "train", decimals: int = 6,
                   notes: list[str] | None = None) -> int:
    """Write ``dataset`` as YOLO-seg under ``out`` (images copied into ``images/<split>/``).

    Args:
        dataset: the dataset; its images must exist under ``dataset.image_root``.
        out: the output folder (created; files already there are replaced).
        split: the split folder every image goes to; data.yaml's ``train`` and ``val`` both point at it.
        decimals: digits after the point of each normalised coordinate (6 keeps 320 px masks exact).
        notes: what YOLO-seg cannot hold, one plain sentence each (Python warnings without a list).

    Returns:
        The number of instances written.
    """
    out = Path(out)
    categories = sorted(dataset.categories, key=lambda c: c.id)
    class_of_category = {category.id: index for index, category in enumerate(categories)}
    problems, label_owner = [], {}
    for image in dataset.images:
        relative = _relative_file_name(image)
        label_key = relative.with_suffix(".txt")
        if label_key in label_owner:
            problems.append(f"image ids {label_owner[label_key]} and {image.id} would share the label file "
                            f"{label_key}")
        label_owner[label_key] = image.id
        if not dataset.image_path(image).is_file():
            problems.append(f"image id {image.id}: image file {dataset.image_path(image)} not found")
        problems += [f"image id {image.id}, annotation id {a.id}: field category_id {a.category_id} is not a "
                     "declared category" for a in image.annotations if a.category_id not in class_of_category]
    if problems:
        raise problems_error(f"cannot write YOLO-seg to {out}", problems)

    crowd_ids, scored_ids, box_only_ids, empty_ids = [], [], [], []
    written = 0
    for image in dataset.images:
        relative = _relative_file_name(image)
        lines = []
        for annotation in image.annotations:
            polygon = _instance_polygon(annotation, image.height, image.width)
            if polygon is None:
                empty_ids.append(annotation.id)
                continue
            box_only_ids += [annotation.id] if annotation.mask is None else []
            crowd_ids += [annotation.id] if annotation.iscrowd else []
            scored_ids += [annotation.id] if annotation.score is not None else []
            lines.append(_label_line(class_of_category[annotation.category_id], polygon, image.height,
                                     image.width, decimals))
        copy_file(dataset.image_path(image), out / "images" / split / relative)
        label_text = "".join(f"{line}\n" for line in lines)
        atomic_write_text(out / "labels" / split / relative.with_suffix(".txt"), label_text)
        written += len(lines)

    config = {"path": str(out.resolve()), "train": f"images/{split}", "val": f"images/{split}",
              "names": {index: category.name for index, category in enumerate(categories)},
              "coco_category_ids": [category.id for category in categories]}
    atomic_write_text(out / "data.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    if crowd_ids:
        report_note(notes, f"YOLO-seg has no iscrowd flag: {len(crowd_ids)} crowd annotation(s) written as "
                           f"ordinary instances (ids {format_ids(crowd_ids)})")
    if [c.id for c in categories] != list(range(len(categories))):
        report_note(notes, "YOLO-seg has no category ids: ids remapped to 0..K-1 in sorted id order (mapping "
                           "written to data.yaml as coco_category_ids)")
    if scored_ids:
        report_note(notes, f"YOLO-seg labels have no scores: {len(scored_ids)} score(s) dropped")
    if box_only_ids:
        report_note(notes, f"{len(box_only_ids)} annotation(s) without segmentation written as their box "
                           f"rectangle (ids {format_ids(box_only_ids)})")
    if empty_ids:
        report_note(notes, f"{len(empty_ids)} annotation(s) with an empty mask cannot be a polygon and were "
                           f"not written (ids {format_ids(empty_ids)})")
    if any(c.supercategory for c in categories):
        report_note(notes, "YOLO-seg has no supercategories: they were dropped")
    if dataset.images:
        report_note(notes, f"all images went to one split (images/{split}); data.yaml's val points at the "
                           "same images, so split them before training")
    return written
