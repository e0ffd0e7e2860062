"""``instaseg data show``: draw a dataset's annotations as overlays plus a grid preview."""

from __future__ import annotations

import argparse
from pathlib import Path

from instaseg.data.formats.coco import default_image_root, read_coco
from instaseg.visualization.render import render_dataset


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("show", help="draw annotations over their images (one PNG each + a grid)")
    parser.add_argument("annotations", type=Path, help="COCO JSON (scores are drawn where present)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the overlay PNGs")
    parser.add_argument("--images", type=Path, default=None,
                        help="folder the file_names are relative to (default: images/ beside the JSON)")
    parser.add_argument("--limit", type=int, default=None, help="draw only the first N images")
    parser.add_argument("--grid", type=int, default=16, help="images in the grid preview (default 16)")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.add_argument("--augment", metavar="RECIPE",
                        help="draw training samples after this augmentation recipe instead (what the model sees): "
                             "none, basic, lsj, multi_scale, copy_paste, mosaic, mixup, photometric, scratch")
    parser.add_argument("--img-size", type=int, default=320, help="training size for --augment")
    parser.add_argument("--samples", type=int, default=16, help="augmented samples to draw (default 16)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    image_root = args.images if args.images is not None else default_image_root(args.annotations)
    dataset = read_coco(args.annotations, image_root)
    if args.augment:
        return run_augmented(args, dataset)
    written = render_dataset(dataset, args.out, limit=args.limit, grid_count=args.grid, overwrite=args.overwrite)
    print(f"wrote {written.count} overlays and {written.grid} to {args.out}")
    for failure in written.failures:
        print(f"skipped: {failure}")
    return 0


def run_augmented(args: argparse.Namespace, dataset) -> int:
    from instaseg.data.transforms.config import recipe
    from instaseg.errors import InstasegError
    from instaseg.visualization.augmented import render_augmented

    try:
        config = recipe(args.augment)
    except ValueError as error:
        raise InstasegError(str(error)) from None
    if not dataset.images:
        raise InstasegError(f"{args.annotations}: no images to augment")
    grid = render_augmented(dataset, args.out, config, args.img_size, samples=args.samples, overwrite=args.overwrite)
    print(f"wrote {args.samples} samples augmented with recipe '{args.augment}' and {grid.name} to {args.out}")
    return 0
