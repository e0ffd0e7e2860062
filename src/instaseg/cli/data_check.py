"""``instaseg data check``: list every problem in a COCO file; with ``--fix``, write a cleaned copy.

Exit codes: 0 no error (warnings allowed; with --fix: the cleaned copy was written), 1 errors found (or
nothing could be fixed), 2 usage errors and missing files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from instaseg.data.validation import (CheckReport, check_coco, check_payload, format_problems, image_file_summary,
                                     repair_coco)
from instaseg.errors import DatasetError, InstasegError
from instaseg.utils.files import atomic_write_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check", help="report every problem in a COCO annotation file",
        description="Report every problem in a COCO instance-segmentation file: each with the image id, "
                    "annotation id and field. Exit code 0 when there is no error (warnings allowed), 1 when "
                    "errors are found, 2 for usage errors.")
    parser.add_argument("annotations", type=Path, metavar="ANNOTATIONS.json")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="folder the file_names are relative to (default: images/ beside the JSON if it "
                             "exists, else the JSON's folder); every image file is checked to exist, be "
                             "readable and have its declared size (headers only)")
    parser.add_argument("--no-images", action="store_true", help="check the annotations only, not the image files")
    parser.add_argument("--max-per-kind", type=int, default=20, metavar="N",
                        help="print at most N problems of each kind, then the totals "
                             "(0: print all; default 20)")
    parser.add_argument("--fix", action="store_true",
                        help="write a cleaned copy to --out: drop what cannot be repaired, clip boxes, "
                             "recompute boxes and areas from the masks; exit 0 once it is written")
    parser.add_argument("--out", type=Path, metavar="CLEAN.json", help="where --fix writes (never the input)")
    parser.add_argument("--overwrite", action="store_true", help="let --fix replace an existing --out file")
    parser.set_defaults(func=run)


def _check_output_path(args: argparse.Namespace) -> None:
    if args.out is None:
        raise InstasegError("--fix needs --out CLEAN.json: the input file is never changed")
    if args.out.resolve() == args.annotations.resolve():
        raise InstasegError(f"{args.out}: is the input file; --fix never overwrites its input, "
                            "choose another --out")
    if args.out.is_dir():
        raise InstasegError(f"{args.out}: is a folder; --out must be a file path")
    if args.out.exists() and not args.overwrite:
        raise InstasegError(f"{args.out}: exists; choose another --out or pass --overwrite")


def run(args: argparse.Namespace) -> int:
    if args.fix:
        _check_output_path(args)
    elif args.out is not None or args.overwrite:
        raise InstasegError("--out and --overwrite are only used with --fix")
    if args.max_per_kind < 0:
        raise InstasegError("--max-per-kind must be 0 (no cap) or more")
    if args.no_images and args.images is not None:
        raise InstasegError("--images and --no-images contradict each other")
    report = check_coco(args.annotations, args.images, check_images=not args.no_images)
    for line in format_problems(report.problems, args.max_per_kind):
        print(line)
    print(report.summary())
    files = image_file_summary(report)
    if files:
        print(files)
    if not report.images_checked and not report.fatal:
        print("image files were not checked (--no-images)")
    if not args.fix:
        return 1 if report.errors else 0
    return _write_fixed(report, args.out, args.max_per_kind)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _write_fixed(report: CheckReport, out: Path, max_listed: int) -> int:
    missing = sum(p.code == "image-file-missing" for p in report.errors)
    if report.images_checked and report.num_images and missing == report.num_images:
        print(f"nothing written: none of the {report.num_images} images was found under {report.image_root}; "
              "pass --images DIR where they are, or --no-images to fix the annotations only")
        return 1
    try:
        result = repair_coco(report)
    except DatasetError as error:
        print(f"nothing written: {error}")
        return 1
    recheck = check_payload(result.payload, str(out), report.image_root if report.images_checked else None)
    if recheck.errors:  # a bug in the fixer; never write a file that would fail the check
        for line in format_problems(recheck.errors, max_listed):
            print(line)
        print(f"nothing written: the cleaned copy still has {len(recheck.errors)} errors "
              "(please report this)")
        return 1
    atomic_write_json(out, result.payload)
    print(f"wrote {out}: {recheck.num_images} of {report.num_images} images, {recheck.num_annotations} of "
          f"{report.num_annotations} annotations, {recheck.num_categories} of {report.num_categories} "
          "categories; "
          f"dropped {_count(len(result.dropped), 'record')}, made {_count(len(result.changed), 'repair')}")
    for reason in result.dropped:
        print(f"dropped {reason}")
    shown = result.changed if not max_listed else result.changed[:max_listed]
    for change in shown:
        print(f"repaired {change}")
    if len(shown) < len(result.changed):
        print(f"... and {len(result.changed) - len(shown)} more repairs")
    return 0
