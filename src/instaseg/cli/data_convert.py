"""``instaseg data convert``: convert a dataset between COCO, YOLO-seg, LabelMe, mask PNGs and Cityscapes."""

from __future__ import annotations

import argparse
from pathlib import Path

from instaseg.data.convert import READERS, WRITERS, convert


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", help="convert a dataset between formats",
        description="Convert a dataset between formats. Whatever the target format cannot hold is listed "
                    "as a note, never dropped silently.")
    parser.add_argument("source", type=Path, metavar="SRC",
                        help="COCO: the JSON file; YOLO-seg: the folder with data.yaml; LabelMe: a folder "
                             "of JSON files; mask-png: the folder with images/ and masks/; Cityscapes: the "
                             "folder with gtFine/ and leftImg8bit/")
    parser.add_argument("--from", dest="src_format", required=True, choices=sorted(READERS), metavar="FMT",
                        help=f"source format: {', '.join(sorted(READERS))}")
    parser.add_argument("--to", dest="dst_format", required=True, choices=sorted(WRITERS), metavar="FMT",
                        help=f"target format: {', '.join(sorted(WRITERS))}")
    parser.add_argument("--out", type=Path, required=True, metavar="DST",
                        help="COCO: the JSON file to write (images are copied to images/ beside it); "
                             "others: the output folder")
    parser.add_argument("--images", type=Path, default=None, metavar="DIR",
                        help="COCO source only: folder the file_names are relative to "
                             "(default: images/ beside the JSON)")
    parser.add_argument("--labels", type=Path, default=None, metavar="FILE",
                        help="LabelMe source only: class names (one per line) or a JSON {name: id}")
    parser.add_argument("--default-class", default=None, metavar="NAME",
                        help="mask-png source only: class of every instance the class table does not name")
    parser.add_argument("--split", default=None, metavar="NAME",
                        help="Cityscapes source: the split to read (default all); YOLO-seg target: the "
                             "split folder to write (default train)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = {"images": args.images, "labels": args.labels, "default_class": args.default_class,
             "split": args.split}
    options = {name: value for name, value in given.items() if value is not None}
    report = convert(args.source, args.src_format, args.dst_format, args.out, overwrite=args.overwrite,
                     **options)
    for warning in report.warnings:
        print(f"warning: {warning}")
    for notice in report.notices:
        print(f"note: {notice}")
    print(report.summary())
    return 0
