"""``instaseg data synth``: write the built-in synthetic dataset (COCO JSON + PNG images)."""

from __future__ import annotations

import argparse
import dataclasses
import os

from instaseg.data.synthetic import PRESETS, SynthConfig, generate_dataset
from instaseg.errors import InstasegError

# Flags that a preset fixes; combining them with --preset would silently change the benchmark.
_PRESET_FIELDS = ("train", "val", "size", "seed")


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = SynthConfig()
    parser = subparsers.add_parser(
        "synth", help="generate the synthetic shapes dataset",
        description="Write DIR/train.json, DIR/val.json (COCO, RLE masks) and DIR/images/{train,val}/*.png. "
                    "The same arguments always produce the same bytes, whatever --workers is.")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (must be empty)")
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="a fixed, named dataset; 'bench' is the standard benchmark. Cannot be combined "
                             "with --train/--val/--size/--seed")
    parser.add_argument("--train", type=int, metavar="N", help=f"training images (default {defaults.train})")
    parser.add_argument("--val", type=int, metavar="M", help=f"validation images (default {defaults.val})")
    parser.add_argument("--size", type=int, metavar="S",
                        help=f"image side in pixels (default {defaults.size})")
    parser.add_argument("--seed", type=int, metavar="K", help=f"random seed (default {defaults.seed})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="W",
                        help="worker processes (default: CPU count); does not change the output")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty DIR, replacing its train/val files and images")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The preset, or the defaults with the explicit flags applied; a preset plus flags is an error."""
    given = {name: getattr(args, name) for name in _PRESET_FIELDS if getattr(args, name) is not None}
    if args.preset is not None:
        if given:
            flags = " ".join(f"--{name}" for name in given)
            raise InstasegError(f"--preset {args.preset} fixes train/val/size/seed; drop {flags}, or drop "
                                f"--preset to choose them yourself")
        return PRESETS[args.preset]
    return dataclasses.replace(SynthConfig(), **given)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise InstasegError(f"--workers must be >= 1; got {args.workers}")
    config = config_from_args(args)
    outputs = generate_dataset(config, args.out, workers=args.workers, overwrite=args.overwrite)
    print(f"wrote {config.train} train and {config.val} val images of {config.size}x{config.size} "
          f"(seed {config.seed}): {outputs['train']}, {outputs['val']}, {outputs['images']}")
    return 0
