"""Mask R-CNN on the bench preset under a fixed time budget: training images/s, peak memory, COCO mask AP /
AP50 / AP75 and box AP on the bench val split, and predictor latency, for each backbone.

Each model trains in its own child process (this script run with ``--child``), so its peak resident memory
is its own: the child reports its high-water mark right after training, and the parent reads the whole
child's (training, evaluation, latency) from ``os.wait4``. Threads are fixed (``--threads``, default 2, the
same as benchmarks/peer_ultralytics.py). The run uses instaseg's defaults (batch 8, AdamW, cosine schedule
over the budget, EMA) with the basic augmentation recipe (its figures were measured with it; --augment
changes it) and without validation during the run; the final (EMA) weights are
then scored on the val split by instaseg's COCOEvaluator. The budget counts training-step time, as
``TrainConfig(minutes=...)`` does; the wall-clock time of training is reported beside it.

    uv run python benchmarks/train_bench.py                        # all three backbones, 20 minutes each
    uv run python benchmarks/train_bench.py --models mask_rcnn_r18_fpn --minutes 1
    # the augmentation ablation (issue 5): one model, one budget, each recipe
    uv run python benchmarks/train_bench.py --models mask_rcnn_r18_fpn --minutes 10 \
        --augment none basic lsj copy_paste mosaic mixup scratch
    # distillation (issue 15): the same budget with a trained checkpoint as teacher, keyed by --tag
    uv run python benchmarks/train_bench.py --models yolact_csp_nano --minutes 4 --tag taught \
        --teacher runs/teachers/yolact_csp_nano_20min.safetensors --runs runs/distill --out runs/distill/results.json
    # the same where data is scarce: 200 training images, seen many times
    uv run python benchmarks/train_bench.py --models mask_rcnn_r18_fpn --minutes 8 --train-images 200 \
        --augment none basic lsj copy_paste scratch --runs runs/bench_ablation_200 \
        --out runs/bench_ablation_200/results.json

Results are printed as a table and merged into --out (default runs/bench_train/results.json), keyed by
model, which benchmarks/peer_ultralytics.py reads for its side-by-side table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import (DEFAULT_BENCH_DIR, DEFAULT_THREADS, LATENCY_SCORE_THRESHOLD, MODELS, REPO_ROOT,
                     ensure_bench_data, first_images_split, format_table, instaseg_predictor, load_average,
                     load_images, network_gflops, peak_rss_mib, set_threads, time_per_image, upscaled,
                     warn_if_busy)

from instaseg.engine.config import TrainConfig  # noqa: E402  (torch-free)
from instaseg.models import list_models  # noqa: E402  (torch-free)

DEFAULT_OUT = REPO_ROOT / "runs" / "bench_train" / "results.json"

TABLE_COLUMNS = (("model", "model", "s"), ("minutes", "budget min", ".1f"), ("train_wall_s", "train wall s", ".0f"),
                 ("iterations", "iters", "d"), ("images_per_s", "img/s", ".2f"),
                 ("peak_rss_train_mib", "peak RSS train MiB", ".0f"), ("mask_AP", "mask AP", ".4f"),
                 ("mask_AP50", "AP50", ".4f"), ("mask_AP75", "AP75", ".4f"), ("box_AP", "box AP", ".4f"),
                 ("boundary_AP", "boundary AP", ".4f"), ("parameters_m", "params M", ".2f"),
                 ("gflops", "GFLOPs", ".1f"), ("latency_median_ms", "latency ms (p50)", ".1f"),
                 ("latency_p90_ms", "p90", ".1f"), ("latency_large_median_ms", "2x size p50", ".1f"),
                 ("latency_large_p90_ms", "p90", ".1f"), ("detections_per_image", "dets/img", ".1f"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list_models(),
                        help=f"default: {' '.join(MODELS)}")
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per model")
    parser.add_argument("--data", type=Path, default=DEFAULT_BENCH_DIR,
                        help="bench preset folder (generated when absent)")
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="default: the trainer's")
    parser.add_argument("--workers", type=int, default=2, help="data-loading processes")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch intra-op threads")
    parser.add_argument("--latency-images", type=int, default=50, help="val images timed for latency")
    parser.add_argument("--latency-score", type=float, default=LATENCY_SCORE_THRESHOLD,
                        help="predictor score threshold while timing latency")
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "bench_train",
                        help="run directories go to RUNS/MODEL (replaced)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (merged by model)")
    parser.add_argument("--augment", nargs="+", default=["basic"], metavar="RECIPE",
                        help="augmentation recipes to train each model with (the ablation: none basic lsj "
                             "copy_paste mosaic mixup scratch); results are keyed MODEL+RECIPE except for basic")
    parser.add_argument("--train-images", type=int, default=0,
                        help="train on the first N images of the train split only (0: all); the data-scarce "
                             "setting augmentation is meant for")
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model config field (repeatable; see `instaseg models --options NAME`)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: TrainConfig's)")
    parser.add_argument("--teacher", type=Path, default=None,
                        help="distil this checkpoint into each model (`instaseg train --teacher`)")
    parser.add_argument("--tag", default="", help="suffix of the results key and run directory, for ablations")
    parser.add_argument("--score-existing", action="store_true",
                        help="do not train: score the final weights of runs this script trained before (RUNS/KEY), "
                             "e.g. after scoring failed; images/s then comes from step time")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: train this model in this process
    parser.add_argument("--child-train", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-augment", default="basic", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# The child: one model, trained, evaluated and timed in this process.
class _TrainingMonitor:
    """Trainer hook: wall-clock seconds from the start of training to the end of its last step, and the
    proportional resident memory (PSS) of this process and of its data-loader workers, sampled every
    ``every_s`` seconds."""

    def __init__(self, every_s: float = 15.0) -> None:
        self.every_s = every_s
        self.samples: list[dict] = []  # {"iteration", "seconds", "main_mib", "workers_mib"}

    def before_train(self) -> None:
        self.started = time.perf_counter()
        self.ended = self.started
        self.next_sample = self.started

    def after_step(self) -> None:
        self.ended = time.perf_counter()
        if self.ended >= self.next_sample:
            self.next_sample = self.ended + self.every_s
            self.samples.append({"iteration": self.trainer.state.iteration,
                                 "seconds": round(self.ended - self.started, 1),
                                 "main_mib": current_pss_mib(os.getpid()),
                                 "workers_mib": sum(current_pss_mib(pid) for pid in child_pids())})

    def after_epoch(self) -> None: ...

    def after_train(self) -> None: ...

    def memory_by_quarter(self) -> list[float]:
        """Highest main + workers resident memory (MiB) in each quarter of training: flat memory means the
        last quarters are no higher than the second (the first holds start-up growth)."""
        if not self.samples:
            return []
        total = self.ended - self.started
        quarters = [[] for _ in range(4)]
        for sample in self.samples:
            quarters[min(3, int(4 * sample["seconds"] / max(total, 1e-9)))].append(
                sample["main_mib"] + sample["workers_mib"])
        return [round(max(q), 1) if q else None for q in quarters]  # None: no sample fell in that quarter


def current_pss_mib(pid: int) -> float:
    """Proportional resident memory (PSS) of ``pid`` now, in MiB (0 when it has exited): pages shared with
    other processes are split between them, so forked data-loader workers, whose plain RSS counts every page
    they share with the main process, do not count the main process's memory twice."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0.0


def child_pids() -> list[int]:
    """Direct children of this process (the data-loader workers while training)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def run_child(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    if args.score_existing:
        return score_existing_run(args)
    from instaseg.data.transforms.config import recipe
    from instaseg.engine.launch import build_trainer
    from instaseg.models.options import parse_option

    key = run_key(args.child, args.child_augment, args.tag)
    extra = {"lr": args.lr} if args.lr is not None else {}
    if args.teacher is not None:
        extra["teacher"] = str(args.teacher)
    config = TrainConfig(data=str(args.child_train or args.data / "train.json"), val=None, out=str(args.runs / key),
                         model_options=dict(parse_option(text) for text in args.model_option), **extra,
                         augment=recipe(args.child_augment), model=args.child, minutes=args.minutes,
                         image_size=args.image_size, batch_size=args.batch_size, workers=args.workers, eval_every=0)
    trainer = build_trainer(config, overwrite=True)
    clock = _TrainingMonitor()
    clock.trainer = trainer
    trainer.hooks.insert(0, clock)
    load_before = load_average()
    trainer.train()
    load_after = load_average()
    train_wall = clock.ended - clock.started
    images = trainer.state.iteration * config.batch_size  # the sampler yields full batches only
    peak_train = peak_rss_mib()

    scores = score_model(args, trainer.prediction_model(), trainer.metadata)
    return {
        "model": key, "architecture": args.child, "model_options": config.model_options, "lr": config.lr,
        "teacher": config.teacher,
        "augment": args.child_augment, "minutes": args.minutes, "image_size": args.image_size,
        "train_split": (args.child_train or args.data / "train.json").name,
        "batch_size": args.batch_size, "workers": args.workers, "threads": args.threads,
        "iterations": trainer.state.iteration,
        "epochs": trainer.state.epoch + trainer.state.batch_in_epoch / trainer.batches_per_epoch,
        "train_images": images, "train_step_s": trainer.state.train_seconds, "train_wall_s": train_wall,
        "images_per_s": images / max(train_wall, 1e-9),
        "images_per_s_steps": images / max(trainer.state.train_seconds, 1e-9),
        "peak_rss_train_mib": peak_train,
        "pss_by_quarter_mib": clock.memory_by_quarter(), "pss_samples": clock.samples,
        **scores,
        "load_average": [load_before, load_after],  # 1-minute load at the start and end (incl. this run's)
    }


def score_model(args: argparse.Namespace, model, metadata) -> dict:
    """COCO segm / bbox / boundary metrics on the val split, latency at 1x and 2x the training size,
    parameters and GFLOPs of a trained model."""
    from instaseg.data.formats.coco import read_coco
    from instaseg.evaluation.coco import COCOEvaluator
    from instaseg.inference.dataset_prediction import evaluate_predictor
    from instaseg.inference.predictor import EVALUATION_MAX_INSTANCES, EVALUATION_SCORE_FLOOR, Predictor

    val_set = read_coco(args.data / "val.json")
    started = time.perf_counter()
    evaluation = Predictor(model, metadata, score_threshold=EVALUATION_SCORE_FLOOR,
                           max_instances=EVALUATION_MAX_INSTANCES)
    evaluator = COCOEvaluator(val_set, iou_types=("segm", "bbox", "boundary"))
    metrics = evaluate_predictor(evaluation, val_set, evaluator)
    eval_seconds = time.perf_counter() - started

    # Latency at the training size and at twice it (the val images scaled up, the model run at that size).
    paths = [val_set.image_path(image) for image in val_set.images[: args.latency_images]]
    decoded = load_images(paths)
    predictor = instaseg_predictor(model, metadata, args.latency_score)
    latency, outputs = time_per_image(predictor, decoded)
    large = 2 * args.image_size
    predictor_large = instaseg_predictor(model, dataclasses.replace(metadata, image_size=large),
                                         args.latency_score)
    latency_large, _ = time_per_image(predictor_large, upscaled(decoded, large))
    model.eval()
    gflops = network_gflops(lambda image: model.predict([image], score_threshold=1.0), args.image_size)
    return {
        "eval_seconds": eval_seconds, "mask_AP": metrics["segm"]["AP"], "mask_AP50": metrics["segm"]["AP50"],
        "mask_AP75": metrics["segm"]["AP75"], "box_AP": metrics["bbox"]["AP"],
        "boundary_AP": metrics["boundary"]["AP"], "metrics": metrics,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6, "gflops": gflops,
        "latency_median_ms": latency["median_ms"], "latency_p90_ms": latency["p90_ms"],
        "latency_large_size": large, "latency_large_median_ms": latency_large["median_ms"],
        "latency_large_p90_ms": latency_large["p90_ms"],
        "latency_images": latency["images"], "latency_score_threshold": args.latency_score,
        "detections_per_image": sum(len(o) for o in outputs) / max(1, len(outputs)),
    }


def score_existing_run(args: argparse.Namespace) -> dict:
    """The scores of a run this script trained before (its final weights, RUNS/KEY/weights/last.safetensors),
    without training again: for a run whose scoring failed. Training figures come from the checkpoint's
    state, so images/s is over step time (the wall time was not recorded)."""
    from instaseg.engine.checkpoint import load_checkpoint
    from instaseg.models import build_model

    key = run_key(args.child, args.child_augment, args.tag)
    checkpoint = load_checkpoint(args.runs / key / "weights" / "last.safetensors", with_training=True)
    metadata = checkpoint.metadata
    model = build_model(metadata.model, metadata.model_config, metadata.num_classes)
    model.load_state_dict(checkpoint.weights)
    model.eval()
    state, train = checkpoint.training["state"], metadata.train_config
    images = state["iteration"] * train["batch_size"]
    return {"model": key, "architecture": args.child, "model_options": train["model_options"], "lr": train["lr"],
            "augment": args.child_augment, "minutes": train["minutes"], "image_size": train["image_size"],
            "batch_size": train["batch_size"], "workers": train["workers"], "threads": args.threads,
            "iterations": state["iteration"], "epochs": state["epoch"], "train_images": images,
            "train_step_s": state["train_seconds"], "train_wall_s": None,
            "images_per_s": images / max(state["train_seconds"], 1e-9), "scored_from_checkpoint": True,
            **score_model(args, model, metadata)}


# The parent: one child per model, then the table.
def run_key(model: str, augment: str, tag: str = "") -> str:
    """Results and run-directory key: the model, with the recipe when it is not the default, and the tag."""
    return (model if augment == "basic" else f"{model}+{augment}") + (f"+{tag}" if tag else "")


def run_model(args: argparse.Namespace, model: str, augment: str = "basic") -> dict:
    """Train ``model`` in a child process; its results plus the child's peak RSS from wait4."""
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", model, "--child-augment", augment,
                   "--child-result",
                   str(result_path), "--minutes", str(args.minutes), "--data", str(args.data),
                   "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
                   "--workers", str(args.workers), "--threads", str(args.threads),
                   "--latency-images", str(args.latency_images), "--latency-score", str(args.latency_score),
                   "--runs", str(args.runs), "--child-train", str(train_split(args)), "--tag", args.tag,
                   *(["--score-existing"] if args.score_existing else []),
                   *(["--lr", str(args.lr)] if args.lr is not None else []),
                   *(["--teacher", str(args.teacher)] if args.teacher is not None else []),
                   *[item for text in args.model_option for item in ("--model-option", text)]]
        process = subprocess.Popen(command)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage, not all children's
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0 or not result_path.is_file():
            raise SystemExit(f"training {run_key(model, augment, args.tag)} failed (exit {process.returncode})")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    result["peak_rss_process_mib"] = usage.ru_maxrss / 1024  # training, evaluation and latency together
    result["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return result


def train_split(args: argparse.Namespace) -> Path:
    """The train split's JSON, or (``--train-images N``) one holding only its first N images."""
    return first_images_split(args.data, args.train_images)


def merge_results(path: Path, results: list[dict]) -> dict:
    """Earlier results for other models are kept, so models can be run one at a time."""
    from instaseg.utils.files import atomic_write_json

    merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": {}}
    for result in results:
        merged["models"][result["model"]] = result
    merged["command"] = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, merged, indent=2)
    return merged


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data, args.runs = args.data.resolve(), args.runs.resolve()
    if args.child:
        from instaseg.utils.files import atomic_write_json

        atomic_write_json(args.child_result, run_child(args))
        return 0
    ensure_bench_data(args.data)
    warn_if_busy()
    print(f"{args.data} at {args.image_size} px, {args.minutes:g} min per model, {args.threads} threads, "
          f"batch {args.batch_size}, {args.workers} data workers, {os.cpu_count()} CPUs", flush=True)
    results = []
    for model in args.models:
        for augment in args.augment:
            print(f"== {run_key(model, augment, args.tag)}", flush=True)
            results.append(run_model(args, model, augment))
    merge_results(args.out, results)
    print()
    print(format_table(results, TABLE_COLUMNS))
    print(f"results merged into {args.out}")
    if args.score_existing:
        return 0
    print("peak RSS of the whole child (training + evaluation + latency), MiB: "
          + ", ".join(f"{r['model']} {r['peak_rss_process_mib']:.0f}" for r in results))
    print("proportional resident memory (PSS, main + data workers, MiB) by quarter of training, highest sample: "
          + "; ".join(f"{r['model']} " + " / ".join("-" if m is None else f"{m:.0f}"
                                                      for m in r["pss_by_quarter_mib"]) for r in results))
    print("1-minute load average at the start and end of training (the end includes the run's own threads, "
          f"about {args.threads}; more means others competed for the CPU): "
          + ", ".join(f"{r['model']} {r['load_average'][0]:.1f}/{r['load_average'][1]:.1f}" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
