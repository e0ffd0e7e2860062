"""Helpers shared by the training benchmarks: the cached bench data, thread settings, latency statistics,
instaseg's predictor around an in-memory model, and plain-text tables.

Imported by scripts run as ``python benchmarks/NAME.py``, whose own folder is first on ``sys.path``.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DIR = REPO_ROOT / "data" / "bench"
DEFAULT_THREADS = 2
MODELS = ("mask_rcnn_r18_fpn", "mask_rcnn_r50_fpn", "mask_rcnn_mnv3_fpn")
# Latency is timed at one score threshold on both sides of a comparison (instaseg's predictor default).
LATENCY_SCORE_THRESHOLD = 0.5


def ensure_bench_data(folder: Path = DEFAULT_BENCH_DIR, preset: str = "bench") -> Path:
    """``folder`` holding the preset's train.json / val.json / images, generated (about 15 s) when absent."""
    from instaseg.data.synthetic import PRESETS, generate_dataset

    folder = Path(folder)
    if (folder / "train.json").is_file() and (folder / "val.json").is_file():
        return folder
    print(f"generating the {preset} preset into {folder} ...", flush=True)
    generate_dataset(PRESETS[preset], folder, progress=False)
    return folder


def first_images_split(data: Path, count: int) -> Path:
    """``data/train.json``, or (``count`` > 0) a JSON of only its first ``count`` images written beside it, so
    image paths still resolve: the data-scarce setting."""
    import json

    full = Path(data) / "train.json"
    if not count:
        return full
    from instaseg.utils.files import atomic_write_json

    subset = Path(data) / f"train_first{count}.json"
    if not subset.is_file():
        payload = json.loads(full.read_text(encoding="utf-8"))
        images = payload["images"][:count]
        kept = {image["id"] for image in images}
        atomic_write_json(subset, {**payload, "images": images,
                                   "annotations": [a for a in payload["annotations"] if a["image_id"] in kept]})
    return subset


def set_threads(threads: int) -> None:
    """The same intra-op thread count on every side of a comparison (set before heavy work starts)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """High-water mark of resident memory in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def load_average() -> float:
    """The 1-minute load average: above the core count, other work was competing for the CPU."""
    return os.getloadavg()[0]


def warn_if_busy(limit: float = 0.5) -> None:
    """Say so when other work is running: with every core given to torch's threads, one competing process
    slows a training step several times over (measured: YOLOv8n-seg's step 0.95 s idle, 4-13 s beside one
    busy process on 2 cores), so such figures are not comparable."""
    load = load_average()
    if load > limit:
        print(f"warning: the 1-minute load average is {load:.1f}: other work is using the CPU, so the timings "
              "below are unreliable; measure on an idle machine", flush=True)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median, 90th percentile and mean of per-image latencies, in milliseconds."""
    milliseconds = np.asarray(seconds, dtype=np.float64) * 1000
    return {"median_ms": float(np.median(milliseconds)), "p90_ms": float(np.percentile(milliseconds, 90)),
            "mean_ms": float(milliseconds.mean()), "images": int(len(milliseconds))}


def time_per_image(predict: Callable[[Any], Any], inputs: Sequence[Any], warmup: int = 3
                   ) -> tuple[dict[str, float], list[Any]]:
    """Call ``predict`` on each input after ``warmup`` untimed calls; latency summary and the outputs."""
    for item in inputs[:warmup]:
        predict(item)
    seconds, outputs = [], []
    for item in inputs:
        started = time.perf_counter()
        outputs.append(predict(item))
        seconds.append(time.perf_counter() - started)
    return latency_summary(seconds), outputs


def instaseg_predictor(model, metadata, score_threshold: float = LATENCY_SCORE_THRESHOLD,
                       max_instances: int = 100):
    """instaseg's Predictor around an in-memory model: (H, W, 3) uint8 RGB -> Instances at full size."""
    from instaseg.inference.predictor import Predictor

    return Predictor(model, metadata, score_threshold=score_threshold, max_instances=max_instances)


def upscaled(images: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """The images resized (bilinear) so their longer side is ``size``: latency at a larger input."""
    import cv2

    resized = []
    for image in images:
        factor = size / max(image.shape[:2])
        shape = (round(image.shape[1] * factor), round(image.shape[0] * factor))
        resized.append(cv2.resize(image, shape, interpolation=cv2.INTER_LINEAR))
    return resized


def network_gflops(run: Callable[[Any], Any], size: int) -> float:
    """GFLOPs of ``run`` on one random ``size`` x ``size`` image (a (3, H, W) float tensor), counted by
    torch's FlopCounterMode: 2 per multiply-add, convolutions and matrix products only, as the peers count."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    image = torch.rand((3, size, size))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run(image)
    return counter.get_total_flops() / 1e9


def load_images(paths: Sequence[Path]) -> list[np.ndarray]:
    """Decoded (H, W, 3) uint8 RGB images, so decoding is not part of a latency figure."""
    from instaseg.data.images import read_image

    return [read_image(path) for path in paths]


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` are (key, header, format spec), missing values shown as '-'."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(key) is None else format(row[key], spec)) for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width)
                       in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
