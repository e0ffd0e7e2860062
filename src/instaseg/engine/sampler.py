"""Batch order as a pure function of (seed, epoch), so a resumed run replays exactly the same order."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


def batches_per_epoch(num_items: int, batch_size: int) -> int:
    """Full batches only (a ragged last batch would change the loss scale); at least one."""
    return max(1, num_items // batch_size)


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Endless batches of (epoch, index) pairs: each epoch's seeded shuffle, from batch ``start`` of epoch
    ``epoch`` on. One sampler serves the whole run, so the DataLoader's workers live as long as it does."""

    def __init__(self, num_items: int, batch_size: int, seed: int, epoch: int = 0, start: int = 0) -> None:
        self.num_items, self.batch_size = num_items, batch_size
        self.seed, self.epoch, self.start = seed, epoch, start

    def order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(self.num_items, generator=generator).tolist()
        if len(order) < self.batch_size:  # tiny datasets: repeat to fill one batch
            order = (order * (self.batch_size // max(1, len(order)) + 1))[: self.batch_size]
        return order

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, start = self.epoch, self.start
        while True:
            order = self.order(epoch)
            for index in range(start, batches_per_epoch(len(order), self.batch_size)):
                yield [(epoch, item) for item in order[index * self.batch_size: (index + 1) * self.batch_size]]
            epoch, start = epoch + 1, 0
