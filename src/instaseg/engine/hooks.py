"""Hooks extend the trainer loop: logging, progress, validation, checkpoints, plots."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from tqdm import tqdm

from instaseg.evaluation.base import Evaluator, metric_value
from instaseg.utils.files import atomic_write_text

if TYPE_CHECKING:
    from instaseg.engine.trainer import Trainer


class HookBase:
    trainer: "Trainer"

    def before_train(self) -> None: ...

    def after_step(self) -> None: ...

    def after_epoch(self) -> None: ...

    def after_train(self) -> None: ...


class MetricsLog(HookBase):
    """JSON lines (metrics.jsonl) and TensorBoard scalars: training losses every ``period`` steps,
    validation records as they come."""

    def __init__(self, run_dir: Path, period: int = 10) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.tensorboard_dir = run_dir / "tensorboard"
        self.period = period
        self.writer = None

    def before_train(self) -> None:
        iteration = self.trainer.state.iteration
        _truncate_log(self.path, iteration)  # a resumed run re-logs what came after its checkpoint
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.tensorboard_dir), purge_step=iteration or None)
        except ImportError:  # tensorboard is optional at run time; the JSON log always exists
            self.writer = None

    def after_step(self) -> None:
        trainer = self.trainer
        if trainer.state.iteration % self.period and not trainer.finished:
            return
        record = {"type": "train", "iteration": trainer.state.iteration, "epoch": trainer.state.epoch,
                  "lr": trainer.current_lr, "images_per_second": trainer.images_per_second,
                  **{k: round(v, 6) for k, v in trainer.last_losses.items()}}
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = record["iteration"]
            for key, value in _flatten(record).items():
                if key not in ("iteration", "epoch", "type") and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{record['type']}/{key}", value, step)
            self.writer.flush()

    def after_train(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _truncate_log(path: Path, iteration: int) -> None:
    records = [r for r in read_log(path) if r["iteration"] <= iteration]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


class ProgressBar(HookBase):
    """tqdm bar over iterations (or minutes, for time-bounded runs) with loss, lr, images/s and ETA."""

    def before_train(self) -> None:
        trainer = self.trainer
        if trainer.total_iterations is not None:
            self.bar = tqdm(total=trainer.total_iterations, initial=trainer.state.iteration, unit="it",
                            desc="train", dynamic_ncols=True)
        else:
            budget = trainer.config.minutes * 60
            self.bar = tqdm(total=round(budget), initial=round(trainer.state.train_seconds), unit="s",
                            desc="train", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt}s [{elapsed}<{remaining}{postfix}]")

    def after_step(self) -> None:
        trainer = self.trainer
        if trainer.total_iterations is not None:
            self.bar.update(1)
        else:  # the last step ends past the budget: the bar stops at its total
            self.bar.update(max(0.0, min(trainer.state.train_seconds, self.bar.total) - self.bar.n))
        self.bar.set_postfix(loss=f"{trainer.last_losses.get('loss', math.nan):.3f}",
                             lr=f"{trainer.current_lr:.2e}", img_s=f"{trainer.images_per_second:.1f}",
                             epoch=trainer.state.epoch, refresh=False)

    def after_train(self) -> None:
        self.bar.close()


class Validation(HookBase):
    """Validation on its cadence (epochs, iterations, minutes of training) and at the end; keeps the best
    weights by the evaluator's main metric."""

    def __init__(self, evaluator: Evaluator, predict: Callable[[Any], Iterable[tuple[int, Any]]], *,
                 log: MetricsLog, checkpointer: "Checkpointer", every_epochs: int = 1, every_iterations: int = 0,
                 every_minutes: float = 0.0, predictions_path: Path | None = None) -> None:
        """
        Args:
            evaluator: reset / process / evaluate, with ``main_metric`` (see ``evaluation.base``).
            predict: ``predict(model)`` yields (image id, Instances) for every validation image.
            predictions_path: where the latest predictions are written (``evaluator.write_predictions``).
        """
        self.evaluator, self.predict, self.log, self.checkpointer = evaluator, predict, log, checkpointer
        self.every_epochs, self.every_iterations = every_epochs, every_iterations
        self.every_seconds = every_minutes * 60
        self.predictions_path = predictions_path
        self.evaluated_at = -1
        self.evaluated_seconds = 0.0

    def before_train(self) -> None:
        self.evaluated_seconds = self.trainer.state.train_seconds

    def after_step(self) -> None:
        state = self.trainer.state
        due = ((self.every_iterations and state.iteration % self.every_iterations == 0)
               or (self.every_seconds and state.train_seconds - self.evaluated_seconds >= self.every_seconds))
        if due and not self.trainer.finished:
            self.run()

    def after_epoch(self) -> None:
        trainer = self.trainer
        if (self.every_epochs and trainer.state.epoch % self.every_epochs == 0 and not trainer.finished
                and self.evaluated_at != trainer.state.iteration):
            self.run()

    def after_train(self) -> None:
        if self.evaluated_at != self.trainer.state.iteration:
            self.run()

    def run(self) -> None:
        trainer, evaluator = self.trainer, self.evaluator
        evaluator.reset()
        for image_id, instances in self.predict(trainer.prediction_model()):
            evaluator.process(image_id, instances)
        metrics = evaluator.evaluate()
        if self.predictions_path is not None:
            evaluator.write_predictions(self.predictions_path)
        self.evaluated_at, self.evaluated_seconds = trainer.state.iteration, trainer.state.train_seconds
        trainer.latest_metrics = metrics
        self.log.write({"type": "val", "iteration": trainer.state.iteration, "epoch": trainer.state.epoch,
                        **metrics})
        score = metric_value(metrics, evaluator.main_metric)
        tqdm.write(f"val @ iteration {trainer.state.iteration}: {evaluator.main_metric} {score:.4f}"
                   + "".join(f", {name}/AP {values['AP']:.4f}" for name, values in metrics.items()
                             if isinstance(values, dict) and "AP" in values
                             and f"{name}/AP" != evaluator.main_metric))
        if score > trainer.state.best_metric:
            trainer.state.best_metric = score
            trainer.state.best_iteration = trainer.state.iteration
            self.checkpointer.save_best(metrics)


class Checkpointer(HookBase):
    """'last' (weights + full training state) at epoch ends (at most every ``min_seconds``), every
    ``every_minutes`` within epochs and at the end; 'best' (weights only) when validation improves."""

    def __init__(self, run_dir: Path, every_minutes: float, min_seconds: float = 0.0) -> None:
        self.directory = run_dir / "weights"
        self.every_seconds = every_minutes * 60
        self.min_seconds = min_seconds
        self.last_save = time.monotonic()

    def before_train(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.last_save = time.monotonic()

    def after_step(self) -> None:
        if time.monotonic() - self.last_save >= self.every_seconds:
            self.save_last()

    def after_epoch(self) -> None:
        if time.monotonic() - self.last_save >= self.min_seconds:
            self.save_last()

    def after_train(self) -> None:
        self.save_last()

    def save_last(self) -> None:
        self.trainer.save(self.directory / "last.safetensors", with_training=True)
        self.last_save = time.monotonic()

    def save_best(self, metrics: dict) -> None:
        self.trainer.save(self.directory / "best.safetensors", with_training=False, metrics=metrics)


class LossCurve(HookBase):
    """loss_curve.png in the run directory: training losses and validation AP over iterations, redrawn at
    epoch ends (at most every ``min_seconds``: drawing takes a few tenths of a second) and at the end."""

    def __init__(self, run_dir: Path, log_path: Path, min_seconds: float = 30.0) -> None:
        self.path = run_dir / "loss_curve.png"
        self.log_path = log_path
        self.min_seconds = min_seconds
        self.drawn_at = time.monotonic()

    def before_train(self) -> None:
        self.drawn_at = time.monotonic()

    def after_epoch(self) -> None:
        if time.monotonic() - self.drawn_at >= self.min_seconds:
            self.draw()

    def after_train(self) -> None:
        self.draw()

    def draw(self) -> None:
        from instaseg.visualization.curves import plot_training_curves

        plot_training_curves(read_log(self.log_path), self.path)
        self.drawn_at = time.monotonic()
