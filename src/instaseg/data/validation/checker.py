"""``check_coco``: run every check over one COCO file and gather the problems in a CheckReport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from instaseg.data.formats.coco import default_image_root
from instaseg.data.validation.annotations import check_annotations
from instaseg.data.validation.parsing import read_json
from instaseg.data.validation.problems import CheckReport, ProblemLog
from instaseg.data.validation.structure import (check_categories, check_image_files, check_images,
                                                check_top_level)
from instaseg.errors import DatasetError


def resolve_image_root(path: str | Path, image_root: str | Path | None) -> Path:
    """The folder ``file_name``s resolve in: the given one, else ``default_image_root(path)``."""
    return Path(image_root) if image_root is not None else default_image_root(path)


def check_coco(path: str | Path, image_root: str | Path | None = None, check_images: bool = True
               ) -> CheckReport:
    """Check a COCO instance-segmentation file and report every problem, not only the first.

    Args:
        path: the annotation JSON.
        image_root: where ``file_name``s resolve; ``default_image_root(path)`` when None.
        check_images: also check that each image file exists, is readable and has its declared size.

    Raises:
        DatasetError: when the file or the image folder does not exist (problems inside the file are
            reported, not raised).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder; expected a COCO JSON file")
    root = resolve_image_root(path, image_root)
    if check_images and not root.is_dir():
        raise DatasetError(f"{root}: image folder of {path.name} not found; pass --images DIR where its images are")
    payload, problems = read_json(path, str(path))
    if problems:
        return CheckReport(str(path), None, problems, root, images_checked=False)
    return check_payload(payload, str(path), root if check_images else None)


def check_payload(payload: Any, file: str = "<payload>", image_root: Path | None = None) -> CheckReport:
    """Check an already parsed COCO dict; image files are checked when ``image_root`` is given."""
    log = ProblemLog(file)
    report = CheckReport(file, payload, log.problems, image_root, images_checked=image_root is not None)
    if not check_top_level(payload, log):
        return report
    category_ids = check_categories(payload["categories"], log)
    images = check_images(payload["images"], log)
    if image_root is not None:
        check_image_files(images, image_root, log)
    check_annotations(payload["annotations"], images, category_ids, log)
    return report


_IMAGE_FILE_CODES = {"image-file-missing": "missing", "image-file-unreadable": "unreadable",
                     "image-size-mismatch": "of another size than their record declares"}


def image_file_summary(report: CheckReport) -> str | None:
    """One line on the image files that failed the check (how many, why, where they were looked for, what
    to do), or None when all were fine or none were checked."""
    counts = {code: sum(p.code == code for p in report.errors) for code in _IMAGE_FILE_CODES}
    if not report.images_checked or not any(counts.values()):
        return None
    parts = ", ".join(f"{count} {_IMAGE_FILE_CODES[code]}" for code, count in counts.items() if count)
    return (f"image files: {parts}, of {report.num_images} images listed, looked for under {report.image_root}; "
            "if the images are elsewhere, pass --images DIR (the folder their file_names are relative to)")
