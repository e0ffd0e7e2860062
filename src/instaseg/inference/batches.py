"""Reading image files in batches, in worker processes when asked, so reading overlaps the model's work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import DataLoader, Dataset

from instaseg.data.images import ImageReadError, read_image


@dataclass
class ReadImage:
    index: int  # position in the list of paths
    pixels: np.ndarray | None  # (H, W, 3) uint8, or None when unreadable
    error: str | None = None  # why it could not be read (the message names the file)


class _ImageFiles(Dataset):
    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> ReadImage:
        try:
            return ReadImage(index, read_image(self.paths[index]))
        except ImageReadError as error:
            return ReadImage(index, None, str(error))


def read_in_batches(paths: Sequence[str | Path], batch_size: int, workers: int = 0) -> Iterator[list[ReadImage]]:
    """Batches of ``batch_size`` images in the order of ``paths``; ``workers`` > 0 reads ahead in processes."""
    files = _ImageFiles(paths)
    if workers <= 0:
        for start in range(0, len(files), batch_size):
            yield [files[index] for index in range(start, min(start + batch_size, len(files)))]
        return
    yield from DataLoader(files, batch_size=batch_size, num_workers=workers, collate_fn=list)
