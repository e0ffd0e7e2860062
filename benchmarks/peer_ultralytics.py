"""The peers: Ultralytics YOLOv8n-seg and YOLO26n-seg trained from scratch on the bench preset, under the same
time budget, image size and thread count as benchmarks/train_bench.py, and scored by the same instaseg COCO
evaluator.

Ultralytics is not an instaseg dependency. It lives in its own environment, runs/peer_env, which this script
creates on first use with uv (torch and torchvision pinned to the project's versions in the same command, so
they are not replaced, and instaseg installed editable beside it); the equivalent commands are

    uv venv --python .venv/bin/python runs/peer_env
    uv pip install --python runs/peer_env/bin/python ultralytics==8.4.190 torch==2.14.1 torchvision==0.29.2 -e .

Then, from the project's environment:

    uv run python benchmarks/peer_ultralytics.py                   # YOLOv8n-seg, 20 minutes, 2 threads, 320 px
    uv run python benchmarks/peer_ultralytics.py --model yolo26n-seg --minutes 1

The bench preset is converted to YOLO-seg with instaseg's converter into runs/peer_data. Training runs in a
child process inside the peer environment, fully offline (no weights, no downloads: the model is built
from its yaml, e.g. yolov8n-seg.yaml), with Ultralytics' own defaults otherwise (batch 16, mosaic, its
schedule), AMP and plots off and its own validation skipped. Ultralytics' ``time=`` budget is wall-clock hours
of its training loop. Its predictions on the val split (conf 0.001, at most 100 per image, masks at the original
resolution) go through instaseg's COCOEvaluator, so the figures are comparable with train_bench.py's.
Prints mask AP / AP50 / AP75, box AP, training images/s, peak memory and predictor latency, and, when
train_bench.py's results JSON exists, the side-by-side table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import (DEFAULT_BENCH_DIR, DEFAULT_THREADS, LATENCY_SCORE_THRESHOLD, REPO_ROOT, ensure_bench_data,
                     first_images_split, format_table, load_average, network_gflops, peak_rss_mib, time_per_image,
                     upscaled, warn_if_busy)

PEER_ENV = REPO_ROOT / "runs" / "peer_env"
PEER_DATA = REPO_ROOT / "runs" / "peer_data"
PEER_RUNS = REPO_ROOT / "runs" / "bench_peer"
ULTRALYTICS_VERSION = "8.4.190"  # the version these settings were checked against
PINNED = ("torch==2.14.1", "torchvision==0.29.2")  # the project's versions (pyproject.toml)
# YOLOv8n-seg, and the newest nano segmentation model this Ultralytics version ships.
PEER_MODELS = ("yolov8n-seg", "yolo26n-seg")
TRAIN_RESULTS = REPO_ROOT / "runs" / "bench_train" / "results.json"

TABLE_COLUMNS = (("model", "model", "s"), ("minutes", "budget min", ".1f"), ("train_wall_s", "train wall s", ".0f"),
                 ("images_per_s", "img/s", ".2f"), ("peak_rss_train_mib", "peak RSS train MiB", ".0f"),
                 ("mask_AP", "mask AP", ".4f"), ("mask_AP50", "AP50", ".4f"), ("mask_AP75", "AP75", ".4f"),
                 ("box_AP", "box AP", ".4f"), ("boundary_AP", "boundary AP", ".4f"),
                 ("parameters_m", "params M", ".2f"), ("gflops", "GFLOPs", ".1f"),
                 ("latency_median_ms", "latency ms (p50)", ".1f"), ("latency_p90_ms", "p90", ".1f"),
                 ("latency_large_median_ms", "2x size p50", ".1f"), ("latency_large_p90_ms", "p90", ".1f"),
                 ("detections_per_image", "dets/img", ".1f"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=PEER_MODELS, default=PEER_MODELS[0], help="the peer architecture")
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget (wall-clock)")
    parser.add_argument("--data", type=Path, default=DEFAULT_BENCH_DIR,
                        help="bench preset folder (generated when absent)")
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=16, help="Ultralytics' default")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch intra-op threads")
    parser.add_argument("--latency-images", type=int, default=50, help="val images timed for latency")
    parser.add_argument("--latency-score", type=float, default=LATENCY_SCORE_THRESHOLD,
                        help="confidence threshold while timing latency (the same as train_bench.py's)")
    parser.add_argument("--env", type=Path, default=PEER_ENV, help="the peer's virtual environment")
    parser.add_argument("--out", type=Path, default=PEER_RUNS / "results.json", help="results JSON (merged by model)")
    parser.add_argument("--train-images", type=int, default=0,
                        help="train on the first N images of the train split only (0: all), as train_bench.py")
    parser.add_argument("--train-results", type=Path, default=TRAIN_RESULTS,
                        help="train_bench.py's results, for the side-by-side table")
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)  # internal: train here
    return parser.parse_args(argv)


# Parent side (the project's environment): environment, data, child process, tables.
def ensure_peer_env(env: Path) -> Path:
    """The peer environment's Python, creating the environment with uv when it lacks Ultralytics."""
    python = env / "bin" / "python"
    if python.is_file() and subprocess.run([str(python), "-c", "import ultralytics"],
                                           capture_output=True).returncode == 0:
        return python
    uv = [shutil.which("uv")] if shutil.which("uv") else [sys.executable, "-m", "uv"]
    print(f"creating the peer environment {env} (Ultralytics {ULTRALYTICS_VERSION}, {', '.join(PINNED)}) ...",
          flush=True)
    subprocess.run([*uv, "venv", "--python", sys.executable, str(env)], check=True)
    subprocess.run([*uv, "pip", "install", "--python", str(python), f"ultralytics=={ULTRALYTICS_VERSION}",
                    *PINNED, "-e", str(REPO_ROOT)], check=True)
    return python


def yolo_data_folder(train_images: int) -> Path:
    """Where the YOLO-seg copy of the bench preset (or of its first N training images) lives."""
    return PEER_DATA if not train_images else PEER_DATA.with_name(f"peer_data_first{train_images}")


def ensure_yolo_data(bench: Path, train_images: int = 0) -> Path:
    """The bench preset (its first ``train_images`` training images when set) as YOLO-seg (train and val split
    folders), converted by instaseg; its data.yaml."""
    import yaml

    from instaseg.data.convert import convert
    from instaseg.utils.files import atomic_write_text

    folder = yolo_data_folder(train_images)
    sources = {"train": first_images_split(bench, train_images), "val": bench / "val.json"}
    source = str(sources["train"].resolve())
    data_yaml = folder / "data.yaml"
    if data_yaml.is_file() and yaml.safe_load(data_yaml.read_text(encoding="utf-8")).get(
            "instaseg_source") in (source, str(bench.resolve()) if not train_images else None):
        return data_yaml  # converted from this very file before
    for split, path in sources.items():
        print(f"converting {path} to YOLO-seg ...", flush=True)
        convert(path, "coco", "yolo-seg", folder / split, overwrite=True, split=split)
    # One data.yaml naming both splits (each converted folder's own yaml points at its single split).
    names = yaml.safe_load((folder / "train" / "data.yaml").read_text(encoding="utf-8"))
    config = {"path": str(folder.resolve()), "train": "train/images/train", "val": "val/images/val",
              "names": names["names"], "coco_category_ids": names["coco_category_ids"],
              "instaseg_source": source}  # Ultralytics ignores unknown keys
    atomic_write_text(data_yaml, yaml.safe_dump(config, sort_keys=False))
    return data_yaml


def run_peer(args: argparse.Namespace, python: Path) -> dict:
    """Train and evaluate in the peer environment; its results plus the child's peak RSS from wait4."""
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        command = [str(python), str(Path(__file__).resolve()), "--child-result", str(result_path),
                   "--model", args.model, "--minutes", str(args.minutes), "--data", str(args.data),
                   "--image-size", str(args.image_size), "--train-images", str(args.train_images),
                   "--batch-size", str(args.batch_size), "--threads", str(args.threads),
                   "--latency-images", str(args.latency_images), "--latency-score", str(args.latency_score)]
        process = subprocess.Popen(command)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not result_path.is_file():
            raise SystemExit(f"the Ultralytics run failed (exit {code})")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    result["peak_rss_process_mib"] = usage.ru_maxrss / 1024
    result["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return result


def read_results(path: Path) -> dict[str, dict]:
    """The peer results saved so far, by model (an older file held one result)."""
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text(encoding="utf-8"))
    return payload["models"] if "models" in payload else {payload["model"]: payload}


def side_by_side(peer: dict, train_results: Path) -> str | None:
    """Mask R-CNN rows from train_bench.py next to the peer's row, or None without those results."""
    if not train_results.is_file():
        return None
    models = json.loads(train_results.read_text(encoding="utf-8")).get("models", {})
    rows = [*models.values(), peer]
    return format_table(rows, TABLE_COLUMNS)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data = args.data.resolve()
    if args.child_result is not None:
        from instaseg.utils.files import atomic_write_json

        atomic_write_json(args.child_result, run_child(args))
        return 0
    ensure_bench_data(args.data)
    python = ensure_peer_env(args.env)
    ensure_yolo_data(args.data, args.train_images)
    warn_if_busy()
    print(f"{args.model} from scratch on the bench preset at {args.image_size} px, {args.minutes:g} min, "
          f"{args.threads} threads, batch {args.batch_size}, {os.cpu_count()} CPUs", flush=True)
    result = run_peer(args, python)

    from instaseg.utils.files import atomic_write_json

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, {"models": {**read_results(args.out), result["model"]: result}}, indent=2)
    print()
    print(format_table([result], TABLE_COLUMNS))
    print(f"{result['epochs']:.2f} epochs, {result['train_images']} images; of the {result['train_wall_s']:.0f} s "
          f"of training, {result['train_step_s']:.0f} s in steps and {result['train_data_wait_s']:.0f} s loading "
          f"batches in-process; {result['torch_threads']} torch threads; 1-minute load average "
          f"{result['load_average'][0]:.1f} / {result['load_average'][1]:.1f} at the start / end of training (the end "
          f"includes its own {result['threads']} threads)")
    print(f"peak RSS of the whole child (training + evaluation + latency): {result['peak_rss_process_mib']:.0f} "
          f"MiB; results in {args.out}")
    table = side_by_side(result, args.train_results)
    if table is None:
        print(f"(no {args.train_results}: run benchmarks/train_bench.py for the side-by-side table)")
    else:
        print("\nwhere Mask R-CNN stands against it (same data, budget, threads and evaluator):")
        print(table)
    return 0


# Child side (the peer environment): Ultralytics, offline.
def _offline_ultralytics(config_dir: Path, threads: int):
    """Import Ultralytics with every network path closed and ``threads`` intra-op threads; the YOLO class."""
    os.environ.update({"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false",
                       "ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS": "1", "YOLO_CONFIG_DIR": str(config_dir),
                       "OMP_NUM_THREADS": str(threads)})  # Ultralytics sets OMP_NUM_THREADS=1 when unset
    import matplotlib
    import torch
    import ultralytics.utils
    import ultralytics.utils.torch_utils
    from ultralytics import YOLO

    # Its dataset check fetches Arial.ttf when missing, even with plots off: give it matplotlib's font.
    font = ultralytics.utils.USER_CONFIG_DIR / "Arial.ttf"
    if not font.exists():
        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    integrations = ("sync", "hub", "clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard",
                    "wandb", "vscode_msg", "openvino_msg")
    ultralytics.utils.SETTINGS.update({k: False for k in integrations if k in ultralytics.utils.SETTINGS})
    # Device selection calls torch.set_num_threads(NUM_THREADS) (cpu_count - 1): make it ours.
    ultralytics.utils.NUM_THREADS = threads
    ultralytics.utils.torch_utils.NUM_THREADS = threads
    torch.set_num_threads(threads)
    return YOLO


def _counting_trainer():
    """Ultralytics' segmentation trainer, counting the images and wall-clock time of its training loop, with
    its own validation skipped (it runs after the last epoch even with ``val=False``)."""
    from ultralytics.models.yolo.segment import SegmentationTrainer

    class CountingTrainer(SegmentationTrainer):
        images_seen = 0
        loop_started = loop_ended = step_started = 0.0
        step_seconds = data_seconds = 0.0  # time in steps / waiting for the next batch after the first

        def preprocess_batch(self, batch):
            now = time.perf_counter()
            if not CountingTrainer.images_seen:
                CountingTrainer.loop_started = now  # the first batch is in hand
            else:
                CountingTrainer.data_seconds += now - CountingTrainer.loop_ended
            CountingTrainer.step_started = now
            CountingTrainer.images_seen += int(batch["img"].shape[0])
            return super().preprocess_batch(batch)

        def validate(self):
            return {}, 0.0  # instaseg's evaluator scores the final weights afterwards: skip Ultralytics' own

        def final_eval(self):
            pass

        def run_callbacks(self, event: str):
            if event == "on_train_batch_end":
                CountingTrainer.loop_ended = time.perf_counter()
                CountingTrainer.step_seconds += CountingTrainer.loop_ended - CountingTrainer.step_started
            super().run_callbacks(event)

    return CountingTrainer


def _to_instances(result, image_size: tuple[int, int]):
    """One Ultralytics Results -> instaseg Instances (labels are class indices, i.e. sorted category ids)."""

    from instaseg.structures.instances import Instances

    if result.masks is None or len(result.boxes) == 0:
        return Instances.empty(image_size, with_scores=True)
    masks = result.masks.data > 0.5  # (N, H, W) at the original resolution with retina_masks
    if tuple(masks.shape[-2:]) != image_size:
        raise RuntimeError(f"masks came back at {tuple(masks.shape[-2:])}, not the image's {image_size}")
    return Instances(image_size=image_size, boxes=result.boxes.xyxy.float().cpu(), masks=masks.cpu(),
                     labels=result.boxes.cls.long().cpu(), scores=result.boxes.conf.float().cpu())


def run_child(args: argparse.Namespace) -> dict:
    import cv2
    import torch

    from instaseg.data.formats.coco import read_coco
    from instaseg.evaluation.coco import COCOEvaluator

    PEER_RUNS.mkdir(parents=True, exist_ok=True)
    YOLO = _offline_ultralytics(PEER_RUNS / "config", args.threads)
    trainer_class = _counting_trainer()
    model = YOLO(f"{args.model}.yaml", task="segment")  # architecture only: trained from scratch
    load_before = load_average()
    model.train(trainer=trainer_class, data=str(yolo_data_folder(args.train_images) / "data.yaml"), epochs=1000,
                time=args.minutes / 60, imgsz=args.image_size, batch=args.batch_size, device="cpu", workers=0,
                pretrained=False, amp=False, plots=False, val=False, project=str(PEER_RUNS), name=args.model,
                exist_ok=True, seed=0, verbose=False)
    load_after = load_average()
    peak_train = peak_rss_mib()
    images = trainer_class.images_seen
    train_wall = trainer_class.loop_ended - trainer_class.loop_started
    weights = PEER_RUNS / args.model / "weights" / "last.pt"  # the EMA weights at the end, like instaseg's
    trained = YOLO(str(weights), task="segment")
    predict = dict(imgsz=args.image_size, device="cpu", max_det=100, retina_masks=True, verbose=False)

    # Accuracy: every val image through the same evaluator as instaseg's models.
    val_set = read_coco(args.data / "val.json")
    evaluator = COCOEvaluator(val_set, iou_types=("segm", "bbox", "boundary"))
    started = time.perf_counter()
    for image in val_set.images:
        result = trained.predict(str(val_set.image_path(image)), conf=0.001, **predict)[0]
        evaluator.process(image.id, _to_instances(result, (image.height, image.width)))
    metrics = evaluator.evaluate()
    eval_seconds = time.perf_counter() - started

    # Latency: decoded images (BGR, as Ultralytics expects arrays), at the shared score threshold.
    arrays = [cv2.imread(str(val_set.image_path(image))) for image in val_set.images[: args.latency_images]]
    latency, outputs = time_per_image(lambda a: trained.predict(a, conf=args.latency_score, **predict)[0], arrays)
    large = 2 * args.image_size
    latency_large, _ = time_per_image(
        lambda a: trained.predict(a, conf=args.latency_score, **{**predict, "imgsz": large})[0],
        upscaled(arrays, large))
    network = trained.model.eval()
    gflops = network_gflops(lambda image: network(image[None]), args.image_size)
    return {
        "model": f"ultralytics {args.model} (scratch)" + (f" first {args.train_images}" if args.train_images else ""),
        "train_images_limit": args.train_images, "minutes": args.minutes, "image_size": args.image_size,
        "batch_size": args.batch_size, "threads": args.threads, "ultralytics_version": _version(),
        "train_images": images, "epochs": images / len(_train_images(args.train_images)), "train_wall_s": train_wall,
        "images_per_s": images / max(train_wall, 1e-9), "train_step_s": trainer_class.step_seconds,
        "train_data_wait_s": trainer_class.data_seconds, "torch_threads": torch.get_num_threads(),
        "peak_rss_train_mib": peak_train,
        "eval_seconds": eval_seconds, "mask_AP": metrics["segm"]["AP"], "mask_AP50": metrics["segm"]["AP50"],
        "mask_AP75": metrics["segm"]["AP75"], "box_AP": metrics["bbox"]["AP"],
        "boundary_AP": metrics["boundary"]["AP"], "metrics": metrics,
        "parameters_m": sum(p.numel() for p in network.parameters()) / 1e6, "gflops": gflops,
        "latency_median_ms": latency["median_ms"], "latency_p90_ms": latency["p90_ms"],
        "latency_large_size": large, "latency_large_median_ms": latency_large["median_ms"],
        "latency_large_p90_ms": latency_large["p90_ms"],
        "latency_images": latency["images"], "latency_score_threshold": args.latency_score,
        "detections_per_image": sum(len(o.boxes) for o in outputs) / max(1, len(outputs)),
        "load_average": [load_before, load_after],  # 1-minute load at the start and end (incl. this run's)
    }


def _train_images(train_images: int) -> list[Path]:
    return [p for p in (yolo_data_folder(train_images) / "train" / "images").rglob("*") if p.is_file()]


def _version() -> str:
    import ultralytics

    return ultralytics.__version__


if __name__ == "__main__":
    sys.exit(main())
