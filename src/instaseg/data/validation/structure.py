"""Checks of a COCO file's skeleton: the top level, the categories, the image records and their files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instaseg.data.images import ImageReadError, image_size
from instaseg.data.validation.problems import ProblemLog, RecordLog, describe_value
from instaseg.data.validation.values import NOT_JSON, as_integer, integer_issue, non_finite_paths

SECTION_NAMES = ("images", "annotations", "categories")
IMAGE_KEYS = frozenset({"id", "file_name", "width", "height"})
CATEGORY_KEYS = frozenset({"id", "name", "supercategory"})


@dataclass
class ImageSlot:
    """The first image record with a given id; size or file name None where the record's is invalid."""

    index: int
    height: int | None
    width: int | None
    file_name: str | None

    @property
    def has_size(self) -> bool:
        return self.height is not None and self.width is not None


def read_integer(entry: dict, key: str, record: RecordLog) -> int | None:
    """``entry[key]`` as an int, reporting it when missing or not an integer."""
    if key not in entry:
        record.error(key, "key-missing", "missing")
        return None
    issue = integer_issue(entry[key])
    if issue is not None:
        record.error(key, *issue)
    return as_integer(entry[key])


def check_extra_fields(entry: dict, known: frozenset[str], record: RecordLog) -> None:
    """Report NaN or Infinity anywhere in the fields this toolkit does not interpret itself."""
    for key, value in entry.items():
        if key not in known:
            for path in non_finite_paths(value, key):
                record.error(path, "extra-non-finite", f"is NaN or Infinity; {NOT_JSON}")


def check_top_level(payload: Any, log: ProblemLog) -> bool:
    """False when the file is not a COCO object with the three lists, so nothing else can be checked."""
    if not isinstance(payload, dict):
        hint = ""
        first = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(first, dict) and "image_id" in first:
            hint = " (this looks like a list of annotations, e.g. a detection results file)"
        log.add("top-level-not-object", "", "the top level must be a JSON object with \"images\", "
                f"\"annotations\" and \"categories\"; got {describe_value(payload)}{hint}")
        return False
    usable = True
    for name in SECTION_NAMES:
        if name not in payload:
            log.add("section-missing", name, "missing; a COCO file needs \"images\", \"annotations\" and "
                    "\"categories\" lists")
            usable = False
        elif not isinstance(payload[name], list):
            log.add("section-not-list", name, f"must be a list; got {describe_value(payload[name])}")
            usable = False
    for key, value in payload.items():
        if key not in SECTION_NAMES:
            for path in non_finite_paths(value, key):
                log.add("extra-non-finite", path, f"is NaN or Infinity; {NOT_JSON}")
    return usable


def check_categories(records: list, log: ProblemLog) -> set[int]:
    """The usable category ids (first record of each id)."""
    first_index: dict[int, int] = {}
    names: dict[str, Any] = {}
    for index, entry in enumerate(records):
        record = log.record("categories", index)
        if not isinstance(entry, dict):
            record.error("", "record-not-object", f"must be an object; got {describe_value(entry)}")
            continue
        category_id = read_integer(entry, "id", record)
        record.category_id = category_id
        if category_id is not None and category_id in first_index:
            record.error("id", "id-duplicate", f"duplicate category id {category_id}; categories"
                         f"[{first_index[category_id]}] has it too")
            continue
        name = entry.get("name")
        if "name" not in entry:
            record.error("name", "key-missing", "missing; every category needs a name")
        elif not isinstance(name, str) or not name.strip():
            record.error("name", "category-name-invalid",
                         f"must be a non-empty string; got {describe_value(name)}")
        elif name in names:
            record.warning("name", "category-name-duplicate", f"{name!r} is also the name of category "
                           f"{names[name]}")
        else:
            names[name] = category_id
        check_extra_fields(entry, CATEGORY_KEYS, record)
        if category_id is not None:
            first_index[category_id] = index
    return set(first_index)


def _positive_size(entry: dict, key: str, record: RecordLog) -> int | None:
    value = read_integer(entry, key, record)
    if value is not None and value <= 0:
        record.error(key, "size-invalid", f"must be a positive integer; got {value}")
        return None
    return value


def check_images(records: list, log: ProblemLog) -> dict[int, ImageSlot]:
    """The usable image ids (first record of each id) with their declared sizes."""
    slots: dict[int, ImageSlot] = {}
    file_names: dict[str, int | None] = {}
    for index, entry in enumerate(records):
        record = log.record("images", index)
        if not isinstance(entry, dict):
            record.error("", "record-not-object", f"must be an object; got {describe_value(entry)}")
            continue
        image_id = read_integer(entry, "id", record)
        record.image_id = image_id
        if image_id is not None and image_id in slots:
            record.error("id", "id-duplicate",
                         f"duplicate image id {image_id}; images[{slots[image_id].index}] has it too")
            continue
        file_name = entry.get("file_name")
        if "file_name" not in entry:
            record.error("file_name", "key-missing", "missing")
            file_name = None
        elif not isinstance(file_name, str) or not file_name.strip():
            record.error("file_name", "file-name-invalid", f"must be a non-empty string; got "
                         f"{describe_value(file_name)}")
            file_name = None
        elif file_name in file_names:
            record.warning("file_name", "file-name-duplicate", f"{file_name!r} is also the file of image "
                           f"{file_names[file_name]}")
        else:
            file_names[file_name] = image_id
        width, height = _positive_size(entry, "width", record), _positive_size(entry, "height", record)
        check_extra_fields(entry, IMAGE_KEYS, record)
        if image_id is not None:
            slots[image_id] = ImageSlot(index, height, width, file_name)
    return slots


def check_image_files(slots: dict[int, ImageSlot], image_root: Path, log: ProblemLog) -> None:
    """Each image file exists, is readable and has its declared size (read from the header only)."""
    for image_id, slot in slots.items():
        if slot.file_name is None:
            continue
        record = log.record("images", slot.index, image_id=image_id)
        path = image_root / slot.file_name
        if not path.is_file():
            record.error("file_name", "image-file-missing", f"image file not found: {path}")
            continue
        try:
            height, width = image_size(path)
        except ImageReadError as error:
            record.error("file_name", "image-file-unreadable", str(error))
            continue
        if slot.has_size and (height, width) != (slot.height, slot.width):
            record.error("width, height", "image-size-mismatch", f"declared width {slot.width}, height "
                         f"{slot.height}, but {path.name} is width {width}, height {height}")
