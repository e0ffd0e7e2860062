"""Batch order as a pure function of (seed, epoch), so a resumed run replays exactly the same order."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


def batches_per_epoch(num_items: int, batch_size: int) -> int:
    """Full batches only (a ragged last batch would change the loss scale); at least one."""
    return max(1, num_items // batch_size)


class ResumableBatchSampler(Sampler[list[int]]):
    """The batches of one epoch's shuffled order, starting at batch ``start``."""

    def __init__(self, num_items: int, batch_size: int, seed: int, epoch: int, start: int = 0) -> None:
        self.num_items, self.batch_size = num_items, batch_size
        self.seed, self.epoch, self.start = seed, epoch, start

    def order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator).tolist()
        if len(order) < self.batch_size:  # tiny datasets: repeat to fill one batch
            order = (order * (self.batch_size // max(1, len(order)) + 1))[: self.batch_size]
        return order

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        for index in range(self.start, batches_per_epoch(len(order), self.batch_size)):
            yield order[index * self.batch_size: (index + 1) * self.batch_size]

    def __len__(self) -> int:
        return batches_per_epoch(max(self.num_items, self.batch_size), self.batch_size) - self.start
