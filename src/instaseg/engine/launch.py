"""Set up and run a training run from a TrainConfig: data, model, optimiser, hooks, resume."""

from __future__ import annotations

import json
import os
import random
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from instaseg.data.dataset import CategoryMap, InstanceSegmentationDataset, collate
from instaseg.data.formats.coco import read_coco
from instaseg.data.records import InstanceDataset
from instaseg.data.transforms import build_train_transform
from instaseg.engine.checkpoint import ModelMetadata, load_checkpoint
from instaseg.engine.config import TrainConfig
from instaseg.engine.distillation import Teacher, check_student
from instaseg.engine.ema import ModelEMA
from instaseg.engine.hooks import Checkpointer, LossCurve, MetricsLog, ProgressBar, Validation
from instaseg.engine.optim import build_optimizer
from instaseg.engine.sampler import ResumableBatchSampler, batches_per_epoch
from instaseg.engine.state import TrainState
from instaseg.engine.trainer import Trainer
from instaseg.errors import InstasegError
from instaseg.evaluation.coco import COCOEvaluator
from instaseg.inference.dataset_prediction import predict_dataset
from instaseg.inference.predictor import EVALUATION_MAX_INSTANCES, EVALUATION_SCORE_FLOOR, Predictor
from instaseg.models import build_model, resolve_config
from instaseg.models.options import config_to_dict
from instaseg.structures.instances import Instances
from instaseg.utils.files import atomic_write_json

CONFIG_FILE = "config.json"
VAL_PREDICTIONS_FILE = "val_predictions.json"  # the latest validation's COCO results, for `instaseg eval`


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _check_config(config: TrainConfig) -> None:
    if config.epochs is None and config.minutes is None:
        raise InstasegError("say how long to train: --epochs N or --minutes M")
    if config.epochs is not None and config.epochs < 1:
        raise InstasegError(f"--epochs must be at least 1; got {config.epochs}")
    if config.minutes is not None and config.minutes <= 0:
        raise InstasegError(f"--minutes must be positive; got {config.minutes}")
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise InstasegError(f"--device {config.device} asked for, but no CUDA device is available")


def _prepare_run_dir(config: TrainConfig, overwrite: bool) -> Path:
    run_dir = Path(config.out)
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise InstasegError(f"{run_dir}: run directory exists and is not empty; pass --resume {run_dir} to "
                            "continue it, --overwrite to replace it, or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.jsonl", "weights/last.safetensors", "weights/best.safetensors"):
        (run_dir / stale).unlink(missing_ok=True)
    return run_dir


def lower_priority(worker_id: int) -> None:
    """Data-loader worker start-up on CPU runs: the lowest scheduling priority, so preparing batches fills the
    cycles the training step leaves idle instead of pre-empting its threads, which wait for one another
    (measured: 4-5 % more images/s on 2 cores, benchmarks/README.md)."""
    if hasattr(os, "nice"):  # POSIX only
        os.nice(19)


def build_trainer(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
                  stop_after: int | None = None) -> Trainer:
    """Everything a run needs; with ``resume`` the state comes from the run's last checkpoint. Every input
    (settings, model options, annotations, image files) is checked before the run directory is touched."""
    _check_config(config)
    model_config = resolve_config(config.model, config.model_options)  # names a bad option
    train_set = read_coco(config.data, config.images, check_images=True)  # validated: a bad file fails now
    val_set = read_coco(config.val, config.val_images, check_images=True) if config.val else None
    if not train_set.categories:
        raise InstasegError(f"{config.data}: no categories; nothing to learn")
    if val_set is not None and sorted(c.id for c in val_set.categories) != sorted(
            c.id for c in train_set.categories):
        raise InstasegError(f"{config.val}: its categories differ from {config.data}'s")
    teacher = None
    if config.teacher:
        check_student(build_model(config.model, model_config, num_classes=1), config.model)
        teacher = Teacher.from_checkpoint(config.teacher, CategoryMap(train_set.categories), config.device)
    run_dir = Path(config.out) if resume else _prepare_run_dir(config, overwrite)
    seed_everything(config.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    train_items = InstanceSegmentationDataset(
        train_set, build_train_transform(config.image_size, config.augment), seed=config.seed)
    per_epoch = batches_per_epoch(max(len(train_items), config.batch_size), config.batch_size)

    def make_loader(epoch: int, start_batch: int) -> DataLoader:
        sampler = ResumableBatchSampler(len(train_items), config.batch_size, config.seed, epoch, start_batch)
        # A generator of its own: starting the loader must not draw from the global RNG the model samples
        # with, or a resumed run (which starts one more loader) would drift from the uninterrupted one.
        return DataLoader(train_items, batch_sampler=sampler, num_workers=config.workers, collate_fn=collate,
                          persistent_workers=config.workers > 0, pin_memory=config.device.startswith("cuda"),
                          worker_init_fn=lower_priority if config.device == "cpu" else None,
                          generator=torch.Generator().manual_seed(config.seed))

    model = build_model(config.model, model_config, num_classes=len(train_items.categories))
    model.to(config.device)
    optimizer = build_optimizer(model, config)
    ema = ModelEMA(model, config.ema_decay) if config.ema else None
    state = TrainState()
    metadata = ModelMetadata(model=config.model, task=model.task, num_classes=len(train_items.categories),
                             class_names=train_items.categories.names, category_ids=train_items.categories.ids,
                             image_size=config.image_size, model_config=config_to_dict(model_config),
                             train_config=config.to_dict())
    if resume:
        state = _restore(run_dir, model, optimizer, ema)
    else:
        atomic_write_json(run_dir / CONFIG_FILE, config.to_dict(), indent=2)

    log = MetricsLog(run_dir, period=config.log_every)
    checkpointer = Checkpointer(run_dir, config.checkpoint_every_minutes, config.checkpoint_min_seconds)
    hooks = [log, ProgressBar(), checkpointer]
    if val_set is not None:
        evaluator = COCOEvaluator(val_set, main_metric=model.ranking_metric)
        predict = partial(_validation_predictions, dataset=val_set, metadata=metadata, config=config)
        hooks.append(Validation(evaluator, predict, log=log, checkpointer=checkpointer,
                                every_epochs=config.eval_every, every_iterations=config.eval_every_iters,
                                every_minutes=config.eval_every_minutes,
                                predictions_path=run_dir / VAL_PREDICTIONS_FILE))
    hooks.append(LossCurve(run_dir, log.path))
    return Trainer(model=model, optimizer=optimizer, config=config, make_loader=make_loader,
                   batches_per_epoch=per_epoch, metadata=metadata, ema=ema, teacher=teacher, state=state,
                   hooks=hooks, stop_after=stop_after)


def _validation_predictions(model: torch.nn.Module, *, dataset: InstanceDataset, metadata: ModelMetadata,
                            config: TrainConfig) -> Iterator[tuple[int, Instances]]:
    """(image id, Instances) of ``model`` on every validation image, through the predictor, kept down to the
    evaluation score floor; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    predictor = Predictor(model, metadata, device=config.device, score_threshold=EVALUATION_SCORE_FLOOR,
                          max_instances=EVALUATION_MAX_INSTANCES)
    try:
        for record, prediction in predict_dataset(predictor, dataset, batch_size=config.batch_size):
            yield record.id, prediction.instances
    finally:
        model.train(was_training)


def load_run_config(run_dir: Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InstasegError(f"{run_dir}: not a run directory (no {CONFIG_FILE})")
    return TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _restore(run_dir: Path, model, optimizer, ema) -> TrainState:
    checkpoint = load_checkpoint(run_dir / "weights" / "last.safetensors", with_training=True)
    training = checkpoint.training
    model.load_state_dict(training["model"])
    optimizer.load_state_dict(training["optimizer"])
    saved = dict(training["state"])
    if ema is not None:
        ema.module.load_state_dict(checkpoint.weights)  # the prediction weights are the EMA
        ema.updates = int(saved.get("ema_updates", 0))
    torch.set_rng_state(training["rng"])
    saved.pop("ema_updates", None)
    return TrainState(**saved)


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          stop_after: int | None = None) -> Trainer:
    trainer = build_trainer(config, resume=resume, overwrite=overwrite, stop_after=stop_after)
    trainer.train()
    return trainer
