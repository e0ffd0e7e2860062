"""Statistics of a synthetic dataset, by default the ``bench`` preset (generated into a temporary folder):
instances per image, COCO area ranges and percentiles, class balance, empty images, and the synthetic set's
own touching same-class pairs.

    uv run python benchmarks/dataset_stats.py                  # generate the bench preset, then measure it
    uv run python benchmarks/dataset_stats.py --data DIR       # measure an already generated folder
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from instaseg.data.formats.coco import read_coco
from instaseg.data.records import ImageRecord
from instaseg.data.stats import dataset_statistics, format_statistics
from instaseg.data.synthetic import PRESETS, generate_dataset


def touching_same_class_pairs(image: ImageRecord) -> int:
    """Pairs of same-class instances whose masks touch (8-connected) in one image."""
    kernel = np.ones((3, 3), np.uint8)
    pairs = 0
    for index, first in enumerate(image.annotations):
        grown = cv2.dilate(first.mask.to_bitmap().astype(np.uint8), kernel).astype(bool)
        pairs += sum(bool((grown & second.mask.to_bitmap()).any()) for second in image.annotations[index + 1:]
                     if second.category_id == first.category_id)
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a folder written by `instaseg data synth`")
    parser.add_argument("--preset", default="bench", choices=sorted(PRESETS),
                        help="preset to generate when --data is not given")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data
        if folder is None:
            folder = Path(scratch) / args.preset
            generate_dataset(PRESETS[args.preset], folder, progress=False)
        for split in ("train", "val"):
            dataset = read_coco(folder / f"{split}.json")
            config = dataset.info.get("info", {}).get("synth_config", {})
            print(f"== {split} ({', '.join(f'{k}={v}' for k, v in config.items())})")
            print(format_statistics(dataset_statistics(dataset)))
            touching = [touching_same_class_pairs(image) for image in dataset.images]
            print(f"touching pairs    {sum(touching)} same-class pairs in {sum(t > 0 for t in touching)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
