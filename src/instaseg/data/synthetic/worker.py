"""Worker process of ``generate_dataset``: renders and writes the images it is given, one JSON line each.

Started as ``python -m instaseg.data.synthetic.worker`` rather than through multiprocessing: fork would
inherit OpenCV's thread pool from a parent that used it (and deadlock on it), while spawn and forkserver
re-run the caller's main script, which hangs any script without an ``if __name__ == "__main__"`` guard.
Input on stdin: {"config": {...}, "image_root": "...", "tasks": [[split, index], ...]}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

from instaseg.data.images import write_png
from instaseg.data.synthetic.config import SynthConfig
from instaseg.data.synthetic.scene import render_scene
from instaseg.structures.masks import bitmaps_to_rles

PNG_COMPRESS_LEVEL = 1  # several times faster than the default and only slightly larger


def render_and_write(config: SynthConfig, split: str, index: int, image_root: Path) -> dict:
    """Render image ``index`` of ``split``, write its PNG, return its instances as COCO RLEs."""
    from instaseg.data.synthetic.generator import file_name, image_rng

    scene = render_scene(config, image_rng(config.seed, split, index))
    name = file_name(split, index)
    write_png(image_root / name, scene.image, compress_level=PNG_COMPRESS_LEVEL, huffman_only=True)
    return {"split": split, "index": index,
            "instances": [[int(c), rle] for c, rle in zip(scene.category_ids, bitmaps_to_rles(scene.masks))]}


def main() -> None:
    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would only contend
    job = json.load(sys.stdin)
    config = SynthConfig(**job["config"])
    image_root = Path(job["image_root"])
    for split, index in job["tasks"]:
        sys.stdout.write(json.dumps(render_and_write(config, split, int(index), image_root)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
