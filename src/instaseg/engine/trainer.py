"""The training loop: batch -> loss dict -> backward -> step, everything else in hooks."""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import torch
from torch import nn

from instaseg.engine.checkpoint import ModelMetadata, save_checkpoint
from instaseg.engine.config import TrainConfig
from instaseg.engine.ema import ModelEMA
from instaseg.engine.hooks import HookBase
from instaseg.engine.optim import lr_factor, set_learning_rate
from instaseg.engine.state import TrainState
from instaseg.errors import InstasegError
from instaseg.models.base import InstanceSegmentationModel

if TYPE_CHECKING:
    from instaseg.engine.distillation import Teacher


class TrainingDiverged(InstasegError):
    """A loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class Trainer:
    """Runs steps until the epoch or time budget is spent, calling hooks around them.

    ``make_loader(epoch, start_batch)`` returns the endless batches of the run from batch ``start_batch`` of
    ``epoch`` on, each (images, targets, image_ids); the data order depends only on the position, and one
    loader (with its worker processes) serves the whole run.
    """

    def __init__(self, *, model: InstanceSegmentationModel, optimizer: torch.optim.Optimizer, config: TrainConfig,
                 make_loader: Callable[[int, int], Iterable], batches_per_epoch: int, metadata: ModelMetadata,
                 ema: ModelEMA | None = None, teacher: Teacher | None = None, state: TrainState | None = None,
                 hooks: list[HookBase] | None = None, stop_after: int | None = None) -> None:
        self.model, self.optimizer, self.config, self.ema, self.teacher = model, optimizer, config, ema, teacher
        self.make_loader, self.batches_per_epoch, self.metadata = make_loader, batches_per_epoch, metadata
        self.state = state or TrainState()
        self.device = torch.device(config.device)
        self.hooks = hooks or []
        for hook in self.hooks:
            hook.trainer = self
        self.total_iterations = config.epochs * batches_per_epoch if config.epochs is not None else None
        self.stop_after = stop_after  # stop (as if killed) after this many iterations: tests and debugging
        self.last_losses: dict[str, float] = {}
        self.latest_metrics: dict = {}
        self.current_lr = config.lr
        self.images_per_second = 0.0
        self.interrupted = False

    # The loop
    @property
    def finished(self) -> bool:
        if self.total_iterations is not None:
            return self.state.iteration >= self.total_iterations
        return self.state.train_seconds >= self.config.minutes * 60

    def train(self) -> None:
        self.model.train()
        for hook in self.hooks:
            hook.before_train()
        batches = iter(self.make_loader(self.state.epoch, self.state.batch_in_epoch))
        try:
            while not self.finished:
                images, targets, _ = next(batches)
                self.run_step(images, targets)
                for hook in self.hooks:
                    hook.after_step()
                if not self.finished and self._should_stop():
                    return  # killed: no end-of-run hooks, the last checkpoint stands
                if self.state.batch_in_epoch >= self.batches_per_epoch:
                    self.state.epoch += 1
                    self.state.batch_in_epoch = 0
                    for hook in self.hooks:
                        hook.after_epoch()
        finally:
            del batches  # stops the loader's worker processes
        for hook in self.hooks:
            hook.after_train()

    def _should_stop(self) -> bool:
        if self.stop_after is not None and self.state.iteration >= self.stop_after:
            self.interrupted = True
        return self.interrupted

    def run_step(self, images: list[torch.Tensor], targets: list) -> None:
        started = time.perf_counter()
        self._update_learning_rate()
        images = [image.to(self.device, non_blocking=True) for image in images]
        targets = [target.to(self.device) for target in targets]
        # A teacher's predictions for the batch's objects, which the student learns to imitate as well.
        imitate = {"soft_targets": self.teacher(images, targets)} if self.teacher is not None else {}
        with self._autocast():
            losses = self.model.loss(images, targets, **imitate)
        total = sum(losses.values())
        if not torch.isfinite(total):
            values = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            raise TrainingDiverged(
                f"loss became {total.item()} at iteration {self.state.iteration} ({values}); stopped. The last "
                "good checkpoint is kept: lower --lr, raise the warm-up or enable gradient clipping")
        (total / self.config.accumulate).backward()
        self.state.iteration += 1
        self.state.batch_in_epoch += 1
        if self.state.iteration % self.config.accumulate == 0:
            if self.config.clip_grad_norm:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(self.model)
        elapsed = time.perf_counter() - started
        self.state.train_seconds += elapsed
        self.images_per_second = len(images) / max(elapsed, 1e-9)
        self.last_losses = {"loss": total.item(), **{k: v.item() for k, v in losses.items()}}

    def _update_learning_rate(self) -> None:
        step = self.state.iteration // self.config.accumulate
        if self.total_iterations is not None:
            progress = self.state.iteration / self.total_iterations
        else:  # time-bounded runs have no iteration total: progress is the share of the budget spent
            progress = self.state.train_seconds / (self.config.minutes * 60)
        self.current_lr = self.config.lr * lr_factor(step, progress, self.config)
        set_learning_rate(self.optimizer, self.current_lr)

    def _autocast(self):
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # Outputs
    def prediction_model(self) -> nn.Module:
        """The weights that predict best: the EMA when kept, else the live model (in eval mode)."""
        return self.ema.module if self.ema is not None else self.model

    def save(self, path: Path, with_training: bool, metrics: dict | None = None) -> None:
        metadata = ModelMetadata(**{**self.metadata.__dict__, "metrics": metrics or self.latest_metrics})
        training = None
        if with_training:
            # The prediction weights are the EMA (or, without one, the raw weights): each tensor stored once.
            training = {"model": self.model.state_dict() if self.ema is not None else None,
                        "optimizer": self.optimizer.state_dict(),
                        "rng": torch.get_rng_state(),
                        "state": {**self.state.to_dict(),
                                  "ema_updates": self.ema.updates if self.ema is not None else 0}}
        save_checkpoint(path, self.prediction_model().state_dict(), metadata, training)

