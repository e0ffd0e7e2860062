"""The training run's settings, as one typed record that the run directory keeps (config.json)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from instaseg.data.transforms.config import AugmentConfig, default_augment
from instaseg.models.registry import DEFAULT_MODEL


@dataclass
class TrainConfig:
    data: str  # training COCO JSON
    out: str  # run directory
    val: str | None = None  # validation COCO JSON
    images: str | None = None  # image folder of ``data`` (default: images/ beside it)
    val_images: str | None = None
    model: str = DEFAULT_MODEL
    model_options: dict[str, Any] = field(default_factory=dict)  # overrides of the model's config fields
    teacher: str | None = None  # checkpoint of a trained model to distil into this one (engine.distillation)
    epochs: int | None = None  # exactly one of epochs / minutes bounds the run; epochs wins when both set
    minutes: float | None = None
    image_size: int = 320
    batch_size: int = 8  # on 2 cores the single-stage models train most images/s at 8 (benchmarks/README.md)
    accumulate: int = 1  # optimiser step every N batches
    device: str = "cpu"
    workers: int = 2
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    schedule: str = "cosine"  # cosine | step
    step_milestones: tuple[float, ...] = (0.75, 0.9)  # fractions of the run, for the step schedule
    step_gamma: float = 0.1
    warmup_iters: int = 200
    warmup_factor: float = 0.001
    warmup_fraction: float = 0.05  # warm-up also ends after this share of the run
    clip_grad_norm: float | None = 10.0
    ema: bool = True
    ema_decay: float = 0.999
    amp: bool = False  # mixed precision; only where the device benefits (CUDA)
    seed: int = 0
    # Validation cadence: after every ``eval_every`` epochs, every ``eval_every_iters`` iterations and every
    # ``eval_every_minutes`` of training time, whichever are set (0: off); always once at the end.
    eval_every: int = 1
    eval_every_iters: int = 0
    eval_every_minutes: float = 0.0
    log_every: int = 10  # iterations between training records in metrics.jsonl
    augment: AugmentConfig = field(default_factory=default_augment)  # the measured best recipe
    # The 'last' checkpoint (weights and training state) is written at epoch ends, but not more often than every
    # ``checkpoint_min_seconds`` (tiny epochs would write it every step), within epochs every
    # ``checkpoint_every_minutes``, and at the end.
    checkpoint_every_minutes: float = 5.0
    checkpoint_min_seconds: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "TrainConfig":
        values = dict(payload)
        augment = AugmentConfig.from_dict(values.pop("augment", {}) or {})
        if isinstance(values.get("step_milestones"), list):
            values["step_milestones"] = tuple(values["step_milestones"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**values, augment=augment)
