"""``instaseg train``: train a model on COCO data, or resume a run exactly where it stopped."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import replace

from instaseg.data.transforms.config import DEFAULT_RECIPE, recipe
from instaseg.engine.config import TrainConfig
from instaseg.errors import InstasegError
from instaseg.models import list_models, resolve_config
from instaseg.models.options import parse_option

# Settings a resumed run may change: they depend on the machine, not on the run.
_RESUMABLE_OVERRIDES = ("device", "workers")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a model (or --resume RUN_DIR)",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig(data="", out="")
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="training COCO JSON")
    data.add_argument("--val", help="validation COCO JSON (COCO AP after each epoch, best checkpoint)")
    data.add_argument("--images", help="image folder of --data (default: images/ beside the JSON)")
    data.add_argument("--val-images", help="image folder of --val")
    run = parser.add_argument_group("run")
    run.add_argument("--model", default=defaults.model, choices=list_models(), metavar="MODEL",
                     help=f"one of: {', '.join(list_models())} (see `instaseg models`)")
    run.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                     help="set a field of the model's config, e.g. fpn_channels=64 (repeatable; `instaseg models "
                          "--options MODEL` lists them)")
    run.add_argument("--out", help="run directory (refused if not empty, unless --overwrite)")
    run.add_argument("--teacher", metavar="CHECKPOINT",
                     help="distil a trained model into this one: the student also imitates the teacher's class "
                          "probabilities and masks for every training object (docs/training.md)")
    length = run.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="train for N epochs")
    length.add_argument("--minutes", type=float, help="train for M minutes of training time")
    run.add_argument("--img-size", type=int, default=defaults.image_size, help="longer image side, pixels")
    run.add_argument("--batch", type=int, default=defaults.batch_size)
    run.add_argument("--accumulate", type=int, default=defaults.accumulate, help="optimiser step every N batches")
    run.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    run.add_argument("--workers", type=int, default=None, help=f"data loader processes (default: {defaults.workers})")
    run.add_argument("--seed", type=int, default=defaults.seed)
    run.add_argument("--eval-every", type=int, default=defaults.eval_every,
                     help="validate every N epochs (0: not by epochs); always once at the end")
    run.add_argument("--eval-every-iters", type=int, default=defaults.eval_every_iters,
                     help="also validate every N iterations (0: off); for small data sets")
    run.add_argument("--eval-every-minutes", type=float, default=defaults.eval_every_minutes,
                     help="also validate every M minutes of training (0: off)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last checkpoint")
    run.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--optimizer", default=defaults.optimizer, choices=("adamw", "sgd"))
    optim.add_argument("--lr", type=float, default=defaults.lr)
    optim.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    optim.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum")
    optim.add_argument("--schedule", default=defaults.schedule, choices=("cosine", "step"))
    optim.add_argument("--warmup", type=int, default=defaults.warmup_iters, help="warm-up iterations")
    optim.add_argument("--clip-grad", type=float, default=defaults.clip_grad_norm, help="max gradient norm; 0: off")
    optim.add_argument("--no-ema", action="store_true", help="do not keep an EMA of the weights")
    optim.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    optim.add_argument("--amp", action="store_true", help="mixed precision (CUDA only; slower on CPUs)")
    augment = parser.add_argument_group("augmentation (a recipe, then switches on top of it)")
    augment.add_argument("--augment", metavar="RECIPE", default=DEFAULT_RECIPE,
                         help=f"none, basic, lsj, multi_scale, copy_paste, mosaic, mixup, photometric, scratch (all "
                              f"of them); default {DEFAULT_RECIPE}, the best in the ablation; see `instaseg data "
                              "show --augment` to look at one")
    augment.add_argument("--no-hflip", action="store_true")
    augment.add_argument("--no-scale-jitter", action="store_true")
    augment.add_argument("--no-crop", action="store_true")
    augment.add_argument("--no-color-jitter", action="store_true")
    parser.set_defaults(func=run_command)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if not args.data or not args.out:
        raise InstasegError("--data and --out are required (or --resume RUN_DIR)")
    model_options = dict(parse_option(text) for text in args.model_option)
    resolve_config(args.model, model_options)  # names a bad option before anything starts
    for name in ("eval_every", "eval_every_iters", "eval_every_minutes"):
        if getattr(args, name) < 0:
            raise InstasegError(f"--{name.replace('_', '-')} must be 0 (off) or more")
    try:
        base = recipe(args.augment)
    except ValueError as error:
        raise InstasegError(str(error)) from None
    augment = replace(base, hflip=0.0 if args.no_hflip else base.hflip,
                      scale_jitter=None if args.no_scale_jitter else base.scale_jitter,
                      crop=base.crop and not args.no_crop,
                      color_jitter=0.0 if args.no_color_jitter else base.color_jitter)
    return TrainConfig(
        data=args.data, out=args.out, val=args.val, images=args.images, val_images=args.val_images,
        model=args.model, model_options=model_options, teacher=args.teacher, epochs=args.epochs,
        minutes=args.minutes,
        image_size=args.img_size,
        batch_size=args.batch, accumulate=args.accumulate, device=args.device or "cpu",
        workers=args.workers if args.workers is not None else TrainConfig.workers, optimizer=args.optimizer,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup_iters=args.warmup, clip_grad_norm=args.clip_grad or None, ema=not args.no_ema,
        ema_decay=args.ema_decay, amp=args.amp, seed=args.seed, eval_every=args.eval_every,
        eval_every_iters=args.eval_every_iters, eval_every_minutes=args.eval_every_minutes, augment=augment)


def run_command(args: argparse.Namespace) -> int:
    from instaseg.engine.launch import load_run_config, train

    if args.resume:
        config = load_run_config(args.resume)
        overrides = {name: getattr(args, name) for name in _RESUMABLE_OVERRIDES if getattr(args, name) is not None}
        config = dataclasses.replace(config, out=args.resume, **overrides)
        print(f"resuming {args.resume}")
        trainer = train(config, resume=True)
    else:
        config = config_from_args(args)
        trainer = train(config, overwrite=args.overwrite)
    best = trainer.state.best_metric
    ranked_by = trainer.model.ranking_metric
    print(f"done: {trainer.state.iteration} iterations, {trainer.state.epoch} epochs; weights in {config.out}/weights"
          + (f"; best {ranked_by} {best:.4f} at iteration {trainer.state.best_iteration}" if best >= 0 else ""))
    return 0
