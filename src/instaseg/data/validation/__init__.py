"""Strict checks of COCO annotation files, so that a bad file fails at once, with every problem listed.

``check_coco`` reports every problem (errors and warnings) with the file, image id, annotation id and
field; ``load_checked_coco`` raises ``DatasetError`` listing the errors, or returns the dataset;
``fix_coco`` writes nothing but returns a cleaned payload and what it dropped.
"""

from __future__ import annotations

from pathlib import Path

from instaseg.data.records import InstanceDataset
from instaseg.data.validation.checker import check_coco, check_payload, image_file_summary, resolve_image_root
from instaseg.data.validation.fixing import FixResult, fix_coco, repair_coco
from instaseg.data.validation.problems import CheckReport, Problem, format_problems
from instaseg.errors import DatasetError

__all__ = ["CheckReport", "FixResult", "Problem", "check_coco", "check_payload", "fix_coco",
           "format_problems", "image_file_summary", "load_checked_coco", "load_checked_payload", "repair_coco",
           "resolve_image_root"]

# How many problems of each kind a DatasetError message lists before giving only the totals.
MAX_LISTED_PER_KIND = 5


def load_checked_payload(path: str | Path, image_root: str | Path | None = None, check_images: bool = False
                         ) -> dict:
    """Check a COCO file and return its parsed payload; warnings pass, errors raise.

    Args:
        path: the annotation JSON.
        image_root: where ``file_name``s resolve; ``default_image_root(path)`` when None.
        check_images: also open each image's header to check it exists and has the declared size.

    Raises:
        DatasetError: listing every error (a few of each kind, then the totals), and how many image files
            are missing or wrong and where they were looked for.
    """
    report = check_coco(path, image_root, check_images=check_images)
    if report.errors:
        lines = format_problems(report.errors, MAX_LISTED_PER_KIND)
        files = image_file_summary(report)
        raise DatasetError(f"{report.summary()}:\n  " + "\n  ".join(lines) + (f"\n{files}" if files else ""))
    return report.payload


def load_checked_coco(path: str | Path, image_root: str | Path | None = None, check_images: bool = False
                      ) -> InstanceDataset:
    """``load_checked_payload``, as an ``InstanceDataset`` whose images resolve under ``image_root``."""
    from instaseg.data.formats.coco import coco_to_dataset

    payload = load_checked_payload(path, image_root, check_images)
    return coco_to_dataset(payload, resolve_image_root(path, image_root))
