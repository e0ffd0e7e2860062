"""How fast each augmentation recipe produces training samples: is the data pipeline ever the bottleneck?

For each recipe, the bench preset's train split at 320 px goes through instaseg's training dataset
(decode, ground truth, augmentation, boxes) and a DataLoader shaped as in training (batch 4, ``--workers``
processes); the figure is augmented images per second once the workers are warm, beside the rate
training consumes them (r18 at 320 px on 2 cores: about 3-4 images/s, benchmarks/README.md). A recipe whose
rate is well above that keeps the trainer fed. ``--workers 0`` times one process alone.

    uv run python benchmarks/augment_speed.py
    uv run python benchmarks/augment_speed.py --recipes basic scratch --images 200 --workers 0
"""

from __future__ import annotations

import argparse
import sys
import time

from _common import DEFAULT_BENCH_DIR, ensure_bench_data, format_table, set_threads, warn_if_busy

RECIPE_NAMES = ("none", "basic", "lsj", "multi_scale", "copy_paste", "mosaic", "mixup", "photometric", "scratch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPE_NAMES), choices=RECIPE_NAMES)
    parser.add_argument("--data", default=DEFAULT_BENCH_DIR)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--images", type=int, default=160, help="images timed per recipe (after warm-up)")
    return parser.parse_args(argv)


def measure(dataset, recipe_name: str, args: argparse.Namespace) -> dict:
    from torch.utils.data import DataLoader

    from instaseg.data.dataset import InstanceSegmentationDataset, collate
    from instaseg.data.transforms import build_train_transform
    from instaseg.data.transforms.config import recipe

    items = InstanceSegmentationDataset(dataset, build_train_transform(args.image_size, recipe(recipe_name)))
    warm_up = args.batch_size * max(args.workers, 1) * 2
    loader = DataLoader(items, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        collate_fn=collate, persistent_workers=False)
    count, started, instances = 0, None, 0
    for images, targets, _ in loader:
        count += len(images)
        if started is None and count >= warm_up:
            started, count = time.perf_counter(), 0
            continue
        if started is not None:
            instances += sum(len(t) for t in targets)
            if count >= args.images:
                break
    seconds = time.perf_counter() - started
    return {"recipe": recipe_name, "images_per_s": count / seconds, "ms_per_image": 1000 * seconds / count,
            "instances_per_image": instances / count}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(1)  # as in training's data workers; the main process only collates here
    from pathlib import Path

    from instaseg.data.formats.coco import read_coco

    folder = ensure_bench_data(Path(args.data))
    dataset = read_coco(folder / "train.json")
    warn_if_busy()
    print(f"{folder} train split at {args.image_size} px, batch {args.batch_size}, {args.workers} workers", flush=True)
    rows = []
    for name in args.recipes:
        rows.append(measure(dataset, name, args))
        print(f"  {name}: {rows[-1]['images_per_s']:.1f} images/s", flush=True)
    print()
    print(format_table(rows, (("recipe", "recipe", "s"), ("images_per_s", "augmented img/s", ".1f"),
                              ("ms_per_image", "ms / img (wall)", ".0f"),
                              ("instances_per_image", "instances / img", ".1f"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
