"""Folders of instance-ID mask PNGs, the form microscopy and many labelling tools export.

Layout::

    DIR/images/NAME.jpg      any image kind ``read_image`` reads; NAME may contain sub-folders
    DIR/masks/NAME.png       single-channel, 8- or 16-bit (or palette): 0 is background, each other
                             value one instance of that image
    DIR/classes.json         which class each instance is (or classes.csv, see below)

``classes.json`` (every key optional, but each instance must get a class from somewhere)::

    {"categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "debris"}],
     "default": "cell",
     "instances": {"NAME": {"1": "cell", "2": "debris"}}}

``categories`` fixes category ids and order (else the class names used, sorted, get ids 1..K);
``default`` is the class of every instance the ``instances`` table does not name, which makes the
one-class case a one-line file (or no file at all: pass ``default_class``). ``classes.csv`` is the flat
alternative: a header ``image,instance_id,class`` then one row per instance, ``image`` being NAME or the
image's file name.

The writer produces the same layout, ids 1..n per image in annotation order, 16-bit when an image has
more than 255 instances. An ID PNG holds one instance per pixel and no crowd flag, so the writer says
which instances lost pixels to an overlapping one (the smaller instance keeps the shared pixels) and that
crowd regions became ordinary instances.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from instaseg.data.formats.reporting import format_ids, problems_error, report_note
from instaseg.data.images import IMAGE_SUFFIXES, ImageReadError, image_size, list_images, write_png
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask, bitmap_to_rle
from instaseg.utils.files import atomic_write_json, copy_file

_GRAY_MODES = ("L", "P", "I", "I;16", "I;16B", "I;16L", "1")


class ClassMap:
    """Which class each (image NAME, instance id) is: explicit entries, then the default class."""

    def __init__(self, source: str, instances: dict[str, dict[int, str]], default: str | None,
                 categories: list[Category] | None):
        self.source = source
        self.instances = instances
        self.default = default
        names = {n for table in instances.values() for n in table.values()}
        names |= {default} if default else set()
        if categories is None:
            categories = [Category(i, n) for i, n in enumerate(sorted(names), start=1)]
        self.categories = categories
        self.id_of_name = {c.name: c.id for c in categories}
        unknown = sorted(names - set(self.id_of_name))
        if unknown:
            raise DatasetError(f"{source}: class(es) {', '.join(map(repr, unknown))} are not in its "
                               "categories")

    def class_of(self, name: str, instance_id: int) -> str | None:
        return self.instances.get(name, {}).get(instance_id, self.default)


def _parse_instance_id(value: Any, where: str) -> int:
    try:
        instance_id = int(str(value).strip())
    except ValueError:
        raise DatasetError(f"{where}: instance id {value!r} is not an integer") from None
    if instance_id <= 0:
        raise DatasetError(f"{where}: instance id {instance_id} must be >= 1 (0 is background)")
    return instance_id


def _name_key(image: str) -> str:
    """'a/b.jpg' and 'a/b' both name image a/b: a table may use either."""
    path = Path(image)
    return path.with_suffix("").as_posix() if path.suffix.lower() in IMAGE_SUFFIXES else path.as_posix()


def _load_json_map(path: Path, default_class: str | None) -> ClassMap:
    try:
        payload = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise DatasetError(f"{path}: expected an object with categories / default / instances")
    categories = None
    if "categories" in payload:
        try:
            categories = [Category(int(c["id"]), str(c["name"]), str(c.get("supercategory", "")))
                          for c in payload["categories"]]
        except (TypeError, KeyError, ValueError):
            raise DatasetError(f"{path}: field categories: expected a list of {{id, name}} objects") from None
    instances: dict[str, dict[int, str]] = {}
    table = payload.get("instances", {})
    if not isinstance(table, dict):
        raise DatasetError(f"{path}: field instances: expected {{NAME: {{instance id: class}}}}")
    for image, entries in table.items():
        if not isinstance(entries, dict):
            raise DatasetError(f"{path}: field instances.{image}: expected {{instance id: class}}")
        for key, name in entries.items():
            where = f"{path}: field instances.{image}.{key}"
            if not isinstance(name, str):
                raise DatasetError(f"{where}: class must be a name string, got {name!r}")
            instances.setdefault(_name_key(image), {})[_parse_instance_id(key, where)] = name
    default = default_class if default_class is not None else payload.get("default")
    if default is not None and not isinstance(default, str):
        raise DatasetError(f"{path}: field default: expected a class name, got {default!r}")
    return ClassMap(str(path), instances, default, categories)


def _load_csv_map(path: Path, default_class: str | None) -> ClassMap:
    instances: dict[str, dict[int, str]] = {}
    try:
        rows = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file") from None
    reader = csv.DictReader(rows)
    if reader.fieldnames is None or not {"image", "instance_id", "class"} <= set(reader.fieldnames):
        raise DatasetError(f"{path}: line 1: expected the header image,instance_id,class")
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        if not row["image"] or not row["class"]:
            raise DatasetError(f"{where}: image and class must not be empty")
        instances.setdefault(_name_key(row["image"]), {})[
            _parse_instance_id(row["instance_id"], where)] = row["class"].strip()
    return ClassMap(str(path), instances, default_class, None)


def load_class_map(folder: Path, default_class: str | None = None) -> ClassMap:
    """classes.json, else classes.csv, else ``default_class`` alone."""
    if (folder / "classes.json").is_file():
        return _load_json_map(folder / "classes.json", default_class)
    if (folder / "classes.csv").is_file():
        return _load_csv_map(folder / "classes.csv", default_class)
    if default_class is None:
        raise DatasetError(f"{folder}: no classes.json or classes.csv saying which class each instance is; "
                           "add one, or give a default class when every instance is the same class")
    return ClassMap("default class", {}, default_class, None)


def read_id_mask(path: Path) -> np.ndarray:
    """An instance-ID PNG as (H, W) integers; palette PNGs give their indices, not their colours."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetError(f"{path}: not a readable mask image ({error})") from None
    if mode not in _GRAY_MODES:
        # Some tools save gray ids as RGB; equal channels are still unambiguous ids.
        if array.ndim == 3 and (array[..., :3] == array[..., :1]).all():
            return array[..., 0].astype(np.int64)
        raise DatasetError(f"{path}: a {mode} colour image; instance masks must be single-channel ids "
                           "(8- or 16-bit gray, or palette)")
    return array.astype(np.int64)


def read_mask_png(source: str | Path, *, default_class: str | None = None,
                  notes: list[str] | None = None) -> InstanceDataset:
    """Read an ``images/`` + ``masks/`` + class-table folder (see the module docstring).

    Args:
        source: the dataset folder.
        default_class: class of every instance the table does not name (overrides the file's ``default``).
        notes: warnings (images without a mask, table entries absent from their mask) are appended here;
            without a list they are raised as Python warnings.

    Raises:
        DatasetError: listing masks whose size differs from their image and instance ids with no class.
    """
    folder = Path(source)
    images_dir, masks_dir = folder / "images", folder / "masks"
    for needed in (images_dir, masks_dir):
        if not needed.is_dir():
            raise DatasetError(f"{folder}: no {needed.name}/ folder (expected images/NAME.ext + "
                               "masks/NAME.png)")
    class_map = load_class_map(folder, default_class)

    problems: list[str] = []
    records: list[ImageRecord] = []
    without_mask: list[str] = []
    seen_names: set[str] = set()
    annotation_id = 0
    for image_id, image_path in enumerate(list_images(images_dir), start=1):
        relative = image_path.relative_to(images_dir)
        name = relative.with_suffix("").as_posix()
        if name in seen_names:
            problems.append(f"{image_path}: another image has the same NAME {name!r}, so they share one mask")
            continue
        seen_names.add(name)
        try:
            height, width = image_size(image_path)
        except ImageReadError as error:
            problems.append(str(error))
            continue
        record = ImageRecord(image_id, relative.as_posix(), width, height)
        records.append(record)
        mask_path = masks_dir / f"{name}.png"
        if not mask_path.is_file():
            without_mask.append(name)
            continue
        ids = read_id_mask(mask_path)  # (H, W)
        if ids.shape != (height, width):
            problems.append(f"{mask_path}: mask is {ids.shape[1]}x{ids.shape[0]} (WxH) but its image "
                            f"{image_path.name} is {width}x{height}")
            continue
        present = [int(v) for v in np.unique(ids) if v != 0]
        unmapped = [v for v in present if class_map.class_of(name, v) is None]
        if unmapped:
            problems.append(f"{mask_path}: instance id(s) {format_ids(unmapped)} have no class in "
                            f"{class_map.source} (instances.{name}) and there is no default class")
            continue
        absent = sorted(set(class_map.instances.get(name, {})) - set(present))
        if absent:
            report_note(notes, f"{class_map.source}: instances.{name} lists id(s) {format_ids(absent)} that "
                               f"{mask_path} does not contain")
        for instance_id in present:
            annotation_id += 1
            mask = Mask.from_rle(bitmap_to_rle(ids == instance_id))
            category_id = class_map.id_of_name[class_map.class_of(name, instance_id)]
            record.annotations.append(Annotation.from_mask(annotation_id, category_id, mask))
    if problems:
        raise problems_error(f"{folder}: mask-png dataset", problems)
    if without_mask:
        report_note(notes, f"{len(without_mask)} image(s) have no mask in {masks_dir} and were kept with no "
                           f"instances: {format_ids(without_mask, 5)}")
    orphans = sorted(p.relative_to(masks_dir).with_suffix("").as_posix() for p in masks_dir.rglob("*.png"))
    orphans = [name for name in orphans if name not in seen_names]
    if orphans:
        report_note(notes, f"{len(orphans)} mask(s) in {masks_dir} have no image and were not read: "
                           f"{format_ids(orphans, 5)}")
    unused = sorted(set(class_map.instances) - seen_names)
    if unused:
        report_note(notes, f"{class_map.source}: {len(unused)} image NAME(s) in its table have no image: "
                           f"{format_ids(unused, 5)}")
    return InstanceDataset(images=records, categories=class_map.categories, image_root=images_dir,
                           info={"info": {"description": f"converted from mask PNGs {folder}"}})


# Writing


def _paint(image: ImageRecord) -> tuple[np.ndarray, dict[int, Annotation], list[int], list[int], list[int]]:
    """Paint one image's instances into an ID array, smaller instances on top, ids 1..n in annotation order.

    Returns the (H, W) ids, id -> annotation, and the annotation ids that lost pixels to an overlap, that
    were covered entirely (not in the array), and that were empty.
    """
    bitmaps, candidates, empty = [], [], []
    for annotation in image.annotations:
        if annotation.mask is not None:
            bitmap = annotation.mask.to_bitmap()
        else:  # box only: fill the box, the best shape there is
            x, y, w, h = annotation.bbox
            rectangle = [x, y, x + w, y, x + w, y + h, x, y + h]
            bitmap = Mask.from_polygons([rectangle], image.height, image.width).to_bitmap()
        if not bitmap.any():
            empty.append(annotation.id)
            continue
        bitmaps.append(bitmap)
        candidates.append(annotation)
    if len(candidates) > np.iinfo(np.uint16).max:
        raise DatasetError(f"image id {image.id}: {len(candidates)} instances do not fit a 16-bit ID mask")
    slots = np.zeros((image.height, image.width), dtype=np.int64)  # index + 1 of the instance on top
    areas = [int(b.sum()) for b in bitmaps]
    # Largest first, so a small instance lying on a big one keeps the shared pixels and stays visible.
    for index in sorted(range(len(candidates)), key=lambda i: -areas[i]):
        slots[bitmaps[index]] = index + 1
    painted = np.bincount(slots.ravel(), minlength=len(candidates) + 1)[1:]
    visible = [i for i in range(len(candidates)) if painted[i] > 0]
    hidden = [candidates[i].id for i in range(len(candidates)) if painted[i] == 0]
    overlapped = [candidates[i].id for i in visible if painted[i] < areas[i]]
    # Renumber the visible instances 1..n so the ids have no gaps.
    lookup = np.zeros(len(candidates) + 1, dtype=np.int64)
    lookup[[i + 1 for i in visible]] = np.arange(1, len(visible) + 1)
    dtype = np.uint8 if len(visible) <= np.iinfo(np.uint8).max else np.uint16
    ids = lookup[slots].astype(dtype)
    return ids, {n: candidates[i] for n, i in enumerate(visible, start=1)}, overlapped, hidden, empty


def write_mask_png(dataset: InstanceDataset, out: str | Path, *, notes: list[str] | None = None) -> int:
    """Write ``dataset`` as ``images/`` (copied) + ``masks/`` ID PNGs + ``classes.json``.

    Args:
        dataset: the dataset; its images must exist under ``dataset.image_root``.
        out: the output folder (created; files already there are replaced).
        notes: what an ID PNG cannot hold, one plain sentence each (Python warnings without a list).

    Returns:
        The number of instances written (instances entirely covered by others are not).
    """
    out = Path(out)
    names = {c.id: c.name for c in dataset.categories}
    problems, owner = [], {}
    for image in dataset.images:
        relative = Path(image.file_name)
        if relative.is_absolute() or ".." in relative.parts:
            problems.append(f"image id {image.id}: field file_name {image.file_name!r} must be inside the "
                            "image folder")
            continue
        name = relative.with_suffix("").as_posix()
        if name in owner:
            problems.append(f"image ids {owner[name]} and {image.id} would share the mask masks/{name}.png")
        owner[name] = image.id
        if not dataset.image_path(image).is_file():
            problems.append(f"image id {image.id}: image file {dataset.image_path(image)} not found")
        problems += [f"image id {image.id}, annotation id {a.id}: field category_id {a.category_id} is not a "
                     "declared category" for a in image.annotations if a.category_id not in names]
    if problems:
        raise problems_error(f"cannot write mask-png to {out}", problems)

    table: dict[str, dict[str, str]] = {}
    overlapped, hidden, empty, crowd, scored, box_only = [], [], [], [], [], []
    written = 0
    for image in dataset.images:
        relative = Path(image.file_name)
        name = relative.with_suffix("").as_posix()
        ids, kept, overlapped_here, hidden_here, empty_here = _paint(image)
        overlapped += overlapped_here
        hidden += hidden_here
        empty += empty_here
        crowd += [a.id for a in kept.values() if a.iscrowd]
        scored += [a.id for a in kept.values() if a.score is not None]
        box_only += [a.id for a in kept.values() if a.mask is None]
        if kept:
            table[name] = {str(i): names[a.category_id] for i, a in kept.items()}
        copy_file(dataset.image_path(image), out / "images" / relative)
        write_png(out / "masks" / f"{name}.png", ids)
        written += len(kept)
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
                  for c in sorted(dataset.categories, key=lambda c: c.id)]
    atomic_write_json(out / "classes.json", {"categories": categories, "instances": table}, indent=1)

    if overlapped:
        report_note(notes, f"an ID mask holds one instance per pixel: {len(overlapped)} overlapping "
                           "instance(s) lost their shared pixels to a smaller one "
                           f"(ids {format_ids(overlapped)})")
    if hidden:
        report_note(notes, f"{len(hidden)} instance(s) lay entirely under smaller ones and were not written "
                           f"(ids {format_ids(hidden)})")
    if crowd:
        report_note(notes, f"an ID mask has no crowd flag: {len(crowd)} crowd annotation(s) written as "
                           f"ordinary instances (ids {format_ids(crowd)})")
    if scored:
        report_note(notes, f"an ID mask has no scores: {len(scored)} score(s) dropped")
    if box_only:
        report_note(notes, f"{len(box_only)} annotation(s) without segmentation written as their filled box "
                           f"(ids {format_ids(box_only)})")
    if empty:
        report_note(notes, f"{len(empty)} annotation(s) with an empty mask were not written "
                           f"(ids {format_ids(empty)})")
    return written
