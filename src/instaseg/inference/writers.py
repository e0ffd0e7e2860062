"""Writing predictions: COCO results, instance-ID mask PNGs and overlays, one image at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from instaseg.data.images import write_png
from instaseg.evaluation.coco import instances_to_coco_results
from instaseg.inference.output_layout import IMAGES_FILE, MASKS_DIR, OVERLAYS_DIR, RESULTS_FILE
from instaseg.inference.postprocess.id_map import instance_id_map
from instaseg.inference.sources import SourceImage
from instaseg.structures.instances import Instances
from instaseg.utils.files import atomic_write_json
from instaseg.visualization.overlay import draw_instances

__all__ = ["IMAGES_FILE", "MASKS_DIR", "OVERLAYS_DIR", "RESULTS_FILE", "PredictionWriter", "draw_predictions",
           "instance_id_map"]


def draw_predictions(pixels: np.ndarray, instances: Instances, class_names: Sequence[str]) -> np.ndarray:
    """(H, W, 3) uint8 overlay with class names and scores; the highest-scoring instance drawn on top."""
    reverse = slice(None, None, -1)  # draw_instances paints later instances over earlier ones
    scores = instances.scores.numpy() if instances.scores is not None else None
    return draw_instances(pixels, instances.masks.numpy()[reverse], instances.labels.numpy()[reverse],
                          boxes=instances.boxes.numpy()[reverse],
                          scores=None if scores is None else scores[reverse],
                          class_names=dict(enumerate(class_names)),
                          color_keys=list(range(len(instances)))[reverse])


class PredictionWriter:
    """Writes OUT/masks/<stem>.png and OUT/overlays/<stem>.png per image as it comes, then OUT/results.json
    (COCO results, with each image's file name) and OUT/images.json (COCO images and categories: load it
    with pycocotools' COCO and ``loadRes`` the results to evaluate or browse them)."""

    def __init__(self, out_dir: Path, class_names: Sequence[str], category_ids: Sequence[int]) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = list(class_names)
        self.category_ids = list(category_ids)
        self.results: list[dict] = []
        self.images: list[dict] = []

    @property
    def count(self) -> int:
        """Images written so far."""
        return len(self.images)

    def write(self, image_id: int, source: SourceImage, pixels: np.ndarray, instances: Instances) -> None:
        """Record one image's predictions (score-sorted Instances at the image's size, on the CPU)."""
        height, width = instances.image_size
        write_png(self.out_dir / MASKS_DIR / f"{source.stem}.png", instance_id_map(instances))
        write_png(self.out_dir / OVERLAYS_DIR / f"{source.stem}.png",
                  draw_predictions(pixels, instances, self.class_names))
        self.images.append({"id": image_id, "file_name": source.name, "height": height, "width": width})
        self.results.extend({"file_name": source.name, **result}
                            for result in instances_to_coco_results(instances, image_id, self.category_ids))

    def finish(self) -> None:
        """Write the two JSON files (atomically)."""
        categories = [{"id": int(i), "name": n} for i, n in zip(self.category_ids, self.class_names)]
        atomic_write_json(self.out_dir / IMAGES_FILE, {"images": self.images, "categories": categories})
        atomic_write_json(self.out_dir / RESULTS_FILE, self.results)
