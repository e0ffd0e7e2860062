"""Where a run stands: everything besides tensors that an exact resume needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainState:
    iteration: int = 0  # batches processed since the start of the run
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # batches of the current epoch already processed
    train_seconds: float = 0.0  # time spent in training steps (time-bounded runs end on it)
    best_metric: float = -1.0  # best value of the validation's main metric so far
    best_iteration: int = -1

    def to_dict(self) -> dict:
        return asdict(self)
