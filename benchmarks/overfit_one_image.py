"""Overfitting one image reproduces its masks: train a model (any registered one) on a single bench image
(augmentation and EMA off, the same batch repeated) for a few hundred steps, predict it, and report the mask IoU of each
ground-truth instance with its best-matching prediction. Target: mean IoU > 0.9. The ``ceiling`` column is
what a perfect fit could reach: the ground-truth mask itself sent through the 28 x 28 mask targets and the
pasting back to the image.

The loop is the trainer's step without its hooks (losses, backward, gradient clipping, AdamW with
instaseg's warm-up and cosine schedule from ``TrainConfig``), so what it needs says something about the
model's and the optimiser's defaults.

    uv run python benchmarks/overfit_one_image.py                          # r18, defaults, 400 steps
    uv run python benchmarks/overfit_one_image.py --model mask_rcnn_mnv3_fpn --iterations 400 --lr 2e-3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

from _common import DEFAULT_BENCH_DIR, DEFAULT_THREADS, ensure_bench_data, set_threads

from instaseg.models import list_models

TARGET_IOU = 0.9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mask_rcnn_r18_fpn", choices=list_models())
    parser.add_argument("--data", type=Path, default=DEFAULT_BENCH_DIR, help="bench preset folder")
    parser.add_argument("--min-instances", type=int, default=5,
                        help="the first train image with at least this many instances is used")
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a field of the model's config (repeatable)")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=1, help="copies of the image per step")
    parser.add_argument("--lr", type=float, help="default: TrainConfig's")
    parser.add_argument("--warmup-iters", type=int, help="default: TrainConfig's")
    parser.add_argument("--weight-decay", type=float, help="default: TrainConfig's")
    parser.add_argument("--score", type=float, default=0.5, help="predictions scoring below are ignored")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=25)
    return parser.parse_args(argv)


def pick_image(dataset, min_instances: int):
    for record in dataset.images:
        if sum(not a.iscrowd for a in record.annotations) >= min_instances:
            return record
    raise SystemExit(f"no image with at least {min_instances} instances")


def mask_iou(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """IoU of every mask in ``first`` (N, H, W) with every mask in ``second`` (M, H, W): (N, M)."""
    a, b = first.flatten(1).float(), second.flatten(1).float()
    intersection = a @ b.T
    union = a.sum(1, keepdim=True) + b.sum(1) - intersection
    return intersection / union.clamp(min=1)


def representation_ceiling(target) -> torch.Tensor:
    """Per-instance IoU of each ground-truth mask after the round trip the model's masks take (28 x 28
    aligned RoIAlign targets on the ground-truth box, pasted back and thresholded at 0.5): the best IoU a
    perfectly fitted model can reach, whatever the training."""
    from instaseg.inference.postprocess.paste import paste_masks
    from instaseg.models.mask_rcnn.mask_geometry import mask_targets

    boxes = target.boxes.float()
    targets = mask_targets(target.masks, boxes, torch.arange(len(boxes)), 28)
    pasted = paste_masks(targets, boxes, target.image_size)  # (N, H, W)
    return torch.diagonal(mask_iou(target.masks, pasted))


def train_on_one(model: nn.Module, image: torch.Tensor, target, config, iterations: int, batch_size: int,
                 log_every: int) -> float:
    """The trainer's step on the same batch ``iterations`` times; seconds taken."""
    from instaseg.engine.optim import build_optimizer, lr_factor, set_learning_rate

    optimizer = build_optimizer(model, config)
    model.train()
    started = time.perf_counter()
    for step in range(iterations):
        set_learning_rate(optimizer, config.lr * lr_factor(step, step / iterations, config))
        losses = model.loss([image] * batch_size, [target] * batch_size)
        total = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if config.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
        optimizer.step()
        if (step + 1) % log_every == 0 or step + 1 == iterations:
            parts = ", ".join(f"{k.removeprefix('loss_')} {v.item():.3f}" for k, v in losses.items())
            print(f"step {step + 1:4d}  loss {total.item():.3f}  ({parts})  "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    from instaseg.data.dataset import CategoryMap, ground_truth
    from instaseg.data.formats.coco import read_coco
    from instaseg.data.images import read_image
    from instaseg.data.transforms import AugmentConfig, build_train_transform
    from instaseg.engine.config import TrainConfig
    from instaseg.models import create_model

    dataset = read_coco(ensure_bench_data(args.data) / "train.json")
    record = pick_image(dataset, args.min_instances)
    categories = CategoryMap(dataset.categories)
    pixels = torch.from_numpy(read_image(dataset.image_path(record))).permute(2, 0, 1).contiguous()
    no_augmentation = AugmentConfig(hflip=0, scale_jitter=None, crop=False, color_jitter=0)
    image, target = build_train_transform(max(record.height, record.width), no_augmentation)(
        pixels, ground_truth(record, categories))  # (3, H, W) float, Instances at the image's own size

    overrides = {k: v for k, v in (("lr", args.lr), ("warmup_iters", args.warmup_iters),
                                    ("weight_decay", args.weight_decay)) if v is not None}
    config = TrainConfig(data="-", out="-", model=args.model, ema=False, augment=no_augmentation, **overrides)
    print(f"{args.model} on image {record.id} ({record.file_name}, {record.width}x{record.height}, "
          f"{len(target)} instances), {args.iterations} steps of batch {args.batch_size}, lr {config.lr:g}, "
          f"warm-up {config.warmup_iters}, weight decay {config.weight_decay:g}, {config.schedule} schedule, "
          f"{args.threads} threads", flush=True)
    from instaseg.models.options import parse_option

    options = dict(parse_option(text) for text in args.model_option)
    model = create_model(args.model, num_classes=len(categories), **options)
    seconds = train_on_one(model, image, target, config, args.iterations, args.batch_size, args.log_every)

    model.eval()
    with torch.inference_mode():
        predicted = model.predict([image])[0]
    kept = predicted[predicted.scores >= args.score]
    print(f"\ntrained in {seconds:.0f} s; {len(predicted)} predictions, {len(kept)} scoring >= {args.score}")
    ious = torch.zeros(len(target))
    if len(kept):
        overlaps = mask_iou(target.masks, kept.masks)  # (ground truth, predictions)
        ious, best = overlaps.max(1)
    names = categories.names
    ceiling = representation_ceiling(target)
    print(f"{'instance':>8}  {'class':<10} {'area':>6}  {'IoU':>6}  {'ceiling':>7}  matched prediction")
    for index in range(len(target)):
        area = int(target.masks[index].sum())
        if len(kept):
            match = int(best[index])
            detail = f"{names[int(kept.labels[match])]} score {float(kept.scores[match]):.2f}"
        else:
            detail = "none"
        print(f"{index:>8}  {names[int(target.labels[index])]:<10} {area:>6}  {float(ious[index]):6.3f}  "
              f"{float(ceiling[index]):7.3f}  {detail}")
    mean = float(ious.mean()) if len(ious) else 0.0
    print(f"ceiling (Mask R-CNN's representation): IoU of the ground truth itself through 28x28 mask targets "
          f"and pasting, mean {float(ceiling.mean()):.3f}")
    passed = mean > TARGET_IOU
    print(f"mean mask IoU {mean:.3f} (target > {TARGET_IOU}): {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
