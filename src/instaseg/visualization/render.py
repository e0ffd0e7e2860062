"""Render a whole dataset: one overlay PNG per image and a grid preview, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from instaseg.data.images import ImageReadError, read_image, write_png
from instaseg.data.records import ImageRecord, InstanceDataset
from instaseg.utils.files import prepare_output_dir
from instaseg.visualization.grid import make_grid
from instaseg.visualization.overlay import draw_instances


@dataclass
class RenderSummary:
    count: int
    grid: Path
    failures: list[str] = field(default_factory=list)


def render_image(dataset: InstanceDataset, image: ImageRecord) -> np.ndarray:
    """The overlay of one image's annotations; colours keyed by annotation id so they are stable."""
    pixels = read_image(dataset.image_path(image))
    annotations = [a for a in image.annotations if a.mask is not None]
    masks = (np.stack([a.mask.to_bitmap() for a in annotations]) if annotations
             else np.zeros((0,) + pixels.shape[:2], bool))
    if masks.shape[1:] != pixels.shape[:2]:
        raise ImageReadError(f"{dataset.image_path(image)}: image is {pixels.shape[1]}x{pixels.shape[0]} "
                             f"but the annotations say {image.width}x{image.height}")
    boxes = np.array([[a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]]
                      for a in annotations], dtype=np.float32).reshape(-1, 4)
    scores = [a.score for a in annotations]
    return draw_instances(pixels, masks, [a.category_id for a in annotations], boxes=boxes,
                          scores=scores if annotations and all(s is not None for s in scores) else None,
                          class_names=dataset.category_names(), color_keys=[a.id for a in annotations])


def _overlay_name(image: ImageRecord) -> str:
    stem = Path(image.file_name).with_suffix("").as_posix().replace("/", "__")
    return f"{stem}.png"


def render_dataset(dataset: InstanceDataset, out_dir: Path, *, limit: int | None = None, grid_count: int = 16,
                   overwrite: bool = False) -> RenderSummary:
    """Write ``out_dir/<image>.png`` per image and ``out_dir/grid.png``; unreadable images are reported."""
    out_dir = prepare_output_dir(out_dir, overwrite=overwrite)
    images = dataset.images[:limit] if limit is not None else dataset.images
    tiles: list[np.ndarray] = []
    failures: list[str] = []
    count = 0
    for image in tqdm(images, desc="drawing", unit="img", leave=False):
        try:
            overlay = render_image(dataset, image)
        except ImageReadError as error:
            failures.append(str(error))
            continue
        write_png(out_dir / _overlay_name(image), overlay)
        count += 1
        if len(tiles) < grid_count:
            tiles.append(overlay)
    grid_path = out_dir / "grid.png"
    if tiles:
        write_png(grid_path, make_grid(tiles))
    return RenderSummary(count=count, grid=grid_path, failures=failures)
