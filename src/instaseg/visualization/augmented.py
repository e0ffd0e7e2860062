"""What the model sees: training samples after augmentation, drawn as overlays plus a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from instaseg.data.images import write_png
from instaseg.data.records import InstanceDataset
from instaseg.data.transforms.config import AugmentConfig
from instaseg.utils.files import prepare_output_dir
from instaseg.visualization.grid import make_grid
from instaseg.visualization.overlay import draw_instances


def render_augmented(dataset: InstanceDataset, out_dir: Path, config: AugmentConfig, image_size: int,
                     samples: int = 16, seed: int = 0, overwrite: bool = False) -> Path:
    """Write ``samples`` augmented training samples (``sample_NNN.png``) and ``grid.png``; return the grid."""
    from instaseg.data.dataset import InstanceSegmentationDataset
    from instaseg.data.transforms import build_train_transform

    out_dir = prepare_output_dir(out_dir, overwrite=overwrite)
    items = InstanceSegmentationDataset(dataset, build_train_transform(image_size, config), seed=seed)
    names = dict(enumerate(items.categories.names))
    tiles = []
    for number in tqdm(range(samples), desc="augmenting", unit="img", leave=False):
        # Past the end: the same images in a later epoch, augmented anew.
        image, target, _ = items[number // max(len(items), 1), number % len(items)]
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        overlay = draw_instances(pixels, target.masks.numpy(), target.labels.tolist(), boxes=target.boxes.numpy(),
                                 class_names=names)
        write_png(out_dir / f"sample_{number:03d}.png", overlay)
        tiles.append(overlay)
    grid = out_dir / "grid.png"
    if tiles:
        write_png(grid, make_grid(tiles))
    return grid
