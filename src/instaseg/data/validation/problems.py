"""What a check finds: one ``Problem`` per fault, gathered in a ``CheckReport``, printed with caps and
totals."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Where a record lives in a COCO file, in the order problems are listed.
SECTIONS = ("", "categories", "images", "annotations")
_RECORD_NOUN = {"categories": "category", "images": "image", "annotations": "annotation"}


def describe_value(value: Any, limit: int = 40) -> str:
    """A short, JSON-flavoured description of a value: the string "17", null, a list of 3 items."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return "the string " + (text if len(text) <= limit else text[: limit - 4] + '..."')
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _record_id(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else describe_value(value, 24)


@dataclass(frozen=True)
class Problem:
    """One fault in an annotation file, located by file, record ids and field.

    ``code`` names the kind of fault (e.g. ``polygon-too-few-points``): printing caps per kind and
    ``fix_coco`` decides per kind. ``section``/``index`` locate the record even when its id is unusable.
    """

    file: str
    image_id: Any = None
    annotation_id: Any = None
    field: str = ""
    message: str = ""
    severity: Severity = "error"
    code: str = ""
    category_id: Any = None
    section: str = ""
    index: int | None = None
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def location(self) -> str:
        """E.g. ``annotation 17 (image 3)``, ``image 3``, ``annotations[4]``, ``line 3, column 7``."""
        if self.line is not None:
            return f"line {self.line}, column {self.column}"
        if not self.section:
            return ""
        own_id = {"categories": self.category_id, "images": self.image_id,
                  "annotations": self.annotation_id}[self.section]
        if own_id is None:
            where = f"{self.section}[{self.index}]"
        else:
            where = f"{_RECORD_NOUN[self.section]} {_record_id(own_id)}"
        if self.section == "annotations" and self.image_id is not None:
            where += f" (image {_record_id(self.image_id)})"
        return where

    def __str__(self) -> str:
        parts = [self.file, self.location, "warning" if self.severity == "warning" else "", self.field,
                 self.message]
        return ": ".join(part for part in parts if part)

    @property
    def sort_key(self) -> tuple[int, int]:
        return SECTIONS.index(self.section), -1 if self.index is None else self.index


@dataclass
class CheckReport:
    """Everything ``check_coco`` found in one file, and the parsed payload (None when it is not JSON)."""

    file: str
    payload: Any
    problems: list[Problem] = field(default_factory=list)
    image_root: Path | None = None
    images_checked: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def fatal(self) -> list[Problem]:
        """Errors that leave nothing else checkable: not JSON, not an object, a missing list."""
        return [p for p in self.problems if p.is_error and not p.section and p.code != "extra-non-finite"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def _section(self, name: str) -> list[Any]:
        records = self.payload.get(name) if isinstance(self.payload, dict) else None
        return records if isinstance(records, list) else []

    @property
    def num_images(self) -> int:
        return len(self._section("images"))

    @property
    def num_annotations(self) -> int:
        return len(self._section("annotations"))

    @property
    def num_categories(self) -> int:
        return len(self._section("categories"))

    def images_with_problems(self) -> int:
        """How many distinct images the problems touch (image records and their annotations)."""
        return len({repr(p.image_id) for p in self.problems if p.image_id is not None})

    def summary(self) -> str:
        """``train.json: 5 errors, 2 warnings in 3 of 10 images (40 annotations, 3 categories)``."""
        errors, warnings = len(self.errors), len(self.warnings)
        if self.fatal:
            return f"{self.file}: {errors} error{'s' * (errors != 1)}; the file cannot be read as COCO"
        text = (f"{self.file}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
                f" in {self.images_with_problems()} of {self.num_images} images ({self.num_annotations} "
                f"annotations, {self.num_categories} categories")
        if self.images_checked:
            text += f"; image files checked under {self.image_root}"
        return text + ")"


def format_problems(problems: list[Problem], max_per_kind: int = 20) -> list[str]:
    """Problem lines in file order, at most ``max_per_kind`` of each kind (0: no cap), then what was left
    out."""
    shown: Counter[str] = Counter()
    lines = []
    for problem in sorted(problems, key=lambda p: p.sort_key):
        shown[problem.code] += 1
        if not max_per_kind or shown[problem.code] <= max_per_kind:
            lines.append(str(problem))
    totals = Counter(p.code for p in problems)
    hidden = {code: count - max_per_kind for code, count in totals.items()
              if max_per_kind and count > max_per_kind}
    for code, count in sorted(hidden.items(), key=lambda item: -item[1]):
        lines.append(f"... and {count} more {code} problem{'s' * (count != 1)} ({totals[code]} in all)")
    return lines


class ProblemLog:
    """Collects the problems of one file; ``record`` gives a logger bound to one record's location."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def record(self, section: str, index: int, **ids: Any) -> "RecordLog":
        return RecordLog(self, section, index, **ids)

    def add(self, code: str, field: str, message: str, severity: Severity = "error", **location: Any) -> None:
        self.problems.append(Problem(self.file, field=field, message=message, severity=severity, code=code,
                                     **location))


class RecordLog:
    """Adds problems located at one record; its ids are filled in as they are read and found valid."""

    def __init__(self, log: ProblemLog, section: str, index: int, image_id: Any = None,
                 annotation_id: Any = None, category_id: Any = None) -> None:
        self.log, self.section, self.index = log, section, index
        self.image_id, self.annotation_id, self.category_id = image_id, annotation_id, category_id

    def error(self, field: str, code: str, message: str) -> None:
        self._add(field, code, message, "error")

    def warning(self, field: str, code: str, message: str) -> None:
        self._add(field, code, message, "warning")

    def _add(self, field: str, code: str, message: str, severity: Severity) -> None:
        self.log.add(code, field, message, severity, section=self.section, index=self.index,
                     image_id=self.image_id, annotation_id=self.annotation_id, category_id=self.category_id)
