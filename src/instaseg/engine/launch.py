"""Set up and run a training run from a TrainConfig: data, model, optimiser, hooks, resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from instaseg.data.dataset import InstanceSegmentationDataset, collate
from instaseg.data.formats.coco import read_coco
from instaseg.data.records import InstanceDataset
from instaseg.data.transforms import build_eval_transform, build_train_transform
from instaseg.engine.checkpoint import ModelMetadata, load_checkpoint
from instaseg.engine.config import TrainConfig
from instaseg.engine.ema import ModelEMA
from instaseg.engine.hooks import Checkpointer, LossCurve, MetricsLog, ProgressBar, Validation
from instaseg.engine.optim import build_optimizer
from instaseg.engine.sampler import ResumableBatchSampler, batches_per_epoch
from instaseg.engine.state import TrainState
from instaseg.engine.trainer import Trainer
from instaseg.errors import InstasegError
from instaseg.evaluation.coco import COCOEvaluator
from instaseg.models import create_model
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


def evaluate_model(model: torch.nn.Module, dataset: InstanceDataset, image_size: int, device: str,
                   workers: int = 0, batch_size: int = 4) -> dict:
    """COCO segm and bbox stats of ``model`` on ``dataset``, predictions pasted at full resolution."""
    return predict_dataset(model, dataset, image_size, device, workers, batch_size).evaluate()


def predict_dataset(model: torch.nn.Module, dataset: InstanceDataset, image_size: int, device: str,
                    workers: int = 0, batch_size: int = 4) -> COCOEvaluator:
    """A COCOEvaluator holding ``model``'s predictions for every image of ``dataset`` (``results`` are COCO
    result records); call ``evaluate()`` for the stats."""
    loader = DataLoader(InstanceSegmentationDataset(dataset, build_eval_transform(image_size)),
                        batch_size=batch_size, num_workers=workers, collate_fn=collate)
    sizes = {image.id: (image.height, image.width) for image in dataset.images}
    evaluator = COCOEvaluator(dataset)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for images, _, image_ids in loader:
            outputs = model([i.to(device) for i in images], output_sizes=[sizes[i] for i in image_ids])
            for image_id, instances in zip(image_ids, outputs):
                evaluator.process(image_id, instances.to("cpu"))
    model.train(was_training)
    return evaluator


def build_trainer(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
                  stop_after: int | None = None) -> Trainer:
    """Everything a run needs; with ``resume`` the state comes from the run's last checkpoint."""
    _check_config(config)
    run_dir = Path(config.out) if resume else _prepare_run_dir(config, overwrite)
    seed_everything(config.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    train_set = read_coco(config.data, config.images)  # validated first: a bad file fails now
    val_set = read_coco(config.val, config.val_images) if config.val else None
    if not train_set.categories:
        raise InstasegError(f"{config.data}: no categories; nothing to learn")
    if val_set is not None and sorted(c.id for c in val_set.categories) != sorted(
            c.id for c in train_set.categories):
        raise InstasegError(f"{config.val}: its categories differ from {config.data}'s")
    train_items = InstanceSegmentationDataset(
        train_set, build_train_transform(config.image_size, config.augment), seed=config.seed)
    per_epoch = batches_per_epoch(max(len(train_items), config.batch_size), config.batch_size)

    def make_loader(epoch: int, start_batch: int):
        train_items.set_epoch(epoch)
        sampler = ResumableBatchSampler(len(train_items), config.batch_size, config.seed, epoch, start_batch)
        return DataLoader(train_items, batch_sampler=sampler, num_workers=config.workers, collate_fn=collate,
                          persistent_workers=False, pin_memory=config.device.startswith("cuda"))

    model = create_model(config.model, num_classes=len(train_items.categories), **config.model_options)
    model.to(config.device)
    optimizer = build_optimizer(model, config)
    ema = ModelEMA(model, config.ema_decay) if config.ema else None
    state = TrainState()
    metadata = ModelMetadata(model=config.model, num_classes=len(train_items.categories),
                             class_names=train_items.categories.names, category_ids=train_items.categories.ids,
                             image_size=config.image_size, model_options=config.model_options,
                             train_config=config.to_dict())
    if resume:
        state = _restore(run_dir, model, optimizer, ema)
    else:
        atomic_write_json(run_dir / CONFIG_FILE, config.to_dict(), indent=2)

    log = MetricsLog(run_dir, period=config.log_every)
    checkpointer = Checkpointer(run_dir, config.checkpoint_every_minutes)
    hooks = [log, ProgressBar(), checkpointer]
    if val_set is not None:
        predict = lambda m: predict_dataset(m, val_set, config.image_size, config.device, workers=0)
        hooks.append(Validation(predict, config.eval_every, log, checkpointer, run_dir / VAL_PREDICTIONS_FILE))
    hooks.append(LossCurve(run_dir, log.path))
    return Trainer(model=model, optimizer=optimizer, config=config, make_loader=make_loader,
                   batches_per_epoch=per_epoch, metadata=metadata, ema=ema, state=state, hooks=hooks,
                   stop_after=stop_after)


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
