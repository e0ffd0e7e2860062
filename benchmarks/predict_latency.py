"""Per-image predictor latency of each Mask R-CNN backbone on bench val images: median and p90 after a
warm-up, one image per call, images decoded beforehand (the figure is resize + model + pasting the masks at
full resolution + filtering, through ``instaseg.inference.predictor.Predictor``).

Latency grows with the number of detections (the mask head and the full-resolution pasting run once per
detection), so it is measured at fixed detection counts: an untrained model scores every class near
1 / (classes + 1), above the heads' 0.05 floor, so with the score threshold at 0 it returns exactly
``--detections`` instances per image. A checkpoint (``--checkpoint``) is timed the same way.

    uv run python benchmarks/predict_latency.py                              # 3 backbones, 100 and 10 detections
    uv run python benchmarks/predict_latency.py --models mask_rcnn_r18_fpn --detections 100 --images 20
    uv run python benchmarks/predict_latency.py --checkpoint runs/bench_train/mask_rcnn_r18_fpn/weights/last.safetensors
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from _common import (DEFAULT_BENCH_DIR, DEFAULT_THREADS, MODELS, ensure_bench_data, format_table, load_images,
                     set_threads, time_per_image, warn_if_busy)

from instaseg.models import list_models  # noqa: E402  (torch-free)

COLUMNS = (("model", "model", "s"), ("detections", "max dets", "d"), ("detections_per_image", "dets/img", ".1f"),
           ("median_ms", "median ms", ".1f"), ("p90_ms", "p90 ms", ".1f"), ("mean_ms", "mean ms", ".1f"),
           ("images", "images", "d"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list_models())
    parser.add_argument("--checkpoint", type=Path, help="time this checkpoint instead of untrained models")
    parser.add_argument("--detections", type=int, nargs="+", default=[100, 10],
                        help="detections per image to time at (max_instances, score threshold 0)")
    parser.add_argument("--data", type=Path, default=DEFAULT_BENCH_DIR, help="bench preset folder")
    parser.add_argument("--images", type=int, default=50, help="val images timed, after 3 untimed ones")
    parser.add_argument("--image-size", type=int, default=320, help="for untrained models")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    return parser.parse_args(argv)


def untrained_predictors(models: list[str], dataset, image_size: int, max_instances: int):
    """(name, Predictor) for randomly initialised models (seed 0) with the dataset's classes."""
    from instaseg.engine.checkpoint import ModelMetadata
    from instaseg.inference.predictor import Predictor
    from instaseg.models import build_model, resolve_config
    from instaseg.models.options import config_to_dict

    categories = sorted(dataset.categories, key=lambda c: c.id)
    for name in models:
        torch.manual_seed(0)
        metadata = ModelMetadata(model=name, num_classes=len(categories), class_names=[c.name for c in categories],
                                 category_ids=[c.id for c in categories], image_size=image_size,
                                 model_config=config_to_dict(resolve_config(name)))
        model = build_model(name, metadata.model_config, len(categories))
        yield name, Predictor(model, metadata, score_threshold=0.0, max_instances=max_instances)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    from instaseg.data.formats.coco import read_coco
    from instaseg.inference.predictor import Predictor

    dataset = read_coco(ensure_bench_data(args.data) / "val.json")
    warn_if_busy()
    images = load_images([dataset.image_path(record) for record in dataset.images[: args.images]])
    print(f"{len(images)} bench val images ({images[0].shape[1]}x{images[0].shape[0]}), one per call, "
          f"{args.threads} threads, {os.cpu_count()} CPUs, torch {torch.__version__}", flush=True)
    rows = []
    for detections in args.detections:
        if args.checkpoint is not None:
            predictor = Predictor.from_checkpoint(args.checkpoint, score_threshold=0.0, max_instances=detections)
            predictors = [(f"{predictor.metadata.model} ({args.checkpoint.name})", predictor)]
        else:
            predictors = untrained_predictors(args.models, dataset, args.image_size, detections)
        for name, predictor in predictors:
            summary, outputs = time_per_image(predictor, images)
            rows.append({"model": name, "detections": detections,
                         "detections_per_image": sum(len(o) for o in outputs) / len(outputs), **summary})
            print(f"{name}, at most {detections} detections: median {summary['median_ms']:.1f} ms, "
                  f"p90 {summary['p90_ms']:.1f} ms", flush=True)
    print()
    print(format_table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
