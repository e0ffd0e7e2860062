"""COCO segm (and box) evaluation time of instaseg, pycocotools and faster-coco-eval on identical inputs,
and the largest difference of their 12 stats from pycocotools'.

The ground truth is the bench preset's train split (1,000 images of 320 x 320, polygons, about 8 instances
each). The results are generated once and cached (runs/bench_eval/results.json): per image ``--per-image``
scored detections with RLE masks, mostly shifted copies of that image's ground truth (some relabelled,
scores falling with the shift), the rest other images' masks as false positives. Each evaluator starts from
the same parsed JSON (deep copies, made outside the timing, since pycocotools' ``loadRes`` edits its input)
and is timed from there to its 12 stats: ground-truth indexing, polygon rasterisation, results loading,
IoU, matching, accumulation, summary. Each evaluator runs in its own process; ``--repeats`` rounds each run
every evaluator once, interleaved, so a drift in the machine's speed hits all of them; the speed-up is the
median of the rounds' ratios. instaseg's
one-off cost per process (importing numba and loading its compiled kernels) is measured apart, in a fresh
process, and printed last.

    uv run --group bench python benchmarks/coco_eval_speed.py
    uv run --group bench python benchmarks/coco_eval_speed.py --categories 80    # COCO's class count
    uv run --group bench python benchmarks/coco_eval_speed.py --per-image 20 --iou-types segm

faster-coco-eval is not an instaseg dependency; the ``bench`` dependency group installs it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import DEFAULT_BENCH_DIR, REPO_ROOT, ensure_bench_data, format_table, warn_if_busy

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_BENCH_DIR, help="bench preset folder")
    parser.add_argument("--per-image", type=int, default=100, help="detections per image")
    parser.add_argument("--iou-types", nargs="+", default=["segm", "bbox"], choices=["segm", "bbox"])
    parser.add_argument("--repeats", type=int, default=3, help="rounds, each running every evaluator once")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "runs" / "bench_eval")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--categories", type=int, default=0,
                        help="relabel the ground truth into this many classes (0: the bench's own 9); COCO has 80, "
                             "and pycocotools' per-(image, class) loops grow with the class count")
    return parser.parse_args(argv)


def make_results(ground_truth: dict, per_image: int, seed: int) -> list[dict]:
    """``per_image`` detections per image: 80% shifted ground truth of the image, 20% others' masks."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict]] = {}
    for annotation in ground_truth["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    category_ids = [c["id"] for c in ground_truth["categories"]]
    images = {image["id"]: image for image in ground_truth["images"]}

    def decode(annotation: dict) -> np.ndarray:
        image = images[annotation["image_id"]]
        segmentation = annotation["segmentation"]
        rle = (mask_utils.merge(mask_utils.frPyObjects(segmentation, image["height"], image["width"]))
               if isinstance(segmentation, list) else segmentation)
        return mask_utils.decode(rle)

    masks = {a["id"]: decode(a) for a in ground_truth["annotations"]}
    all_annotations = ground_truth["annotations"]
    results = []
    for image_id in sorted(images):
        own = by_image.get(image_id, [])
        for _ in range(per_image):
            if own and rng.random() < 0.8:
                source = own[int(rng.integers(len(own)))]
                category = source["category_id"] if rng.random() < 0.9 else int(rng.choice(category_ids))
            else:
                source = all_annotations[int(rng.integers(len(all_annotations)))]
                category = int(rng.choice(category_ids))
            dy, dx = (int(v) for v in rng.integers(-6, 7, size=2))
            mask = np.roll(masks[source["id"]], (dy, dx), axis=(0, 1))
            if not mask.any():
                continue
            rle = mask_utils.encode(np.asfortranarray(mask))
            score = float(np.clip(1 - (abs(dy) + abs(dx)) / 14 + rng.normal(0, 0.15), 0.01, 1))
            results.append({"image_id": image_id, "category_id": category,
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")},
                            "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)], "score": round(score, 4)})
    return results


def relabel(ground_truth: dict, categories: int, seed: int) -> dict:
    """The same instances spread over ``categories`` classes with a long-tailed (Zipf-like) frequency, as in
    COCO where a few classes hold most instances."""
    rng = np.random.default_rng(seed + 1)
    weights = 1.0 / np.arange(1, categories + 1)
    labels = rng.choice(np.arange(1, categories + 1), size=len(ground_truth["annotations"]), p=weights / weights.sum())
    relabelled = dict(ground_truth)
    relabelled["categories"] = [{"id": int(c), "name": f"class{c}"} for c in range(1, categories + 1)]
    relabelled["annotations"] = [{**a, "category_id": int(c)} for a, c in zip(ground_truth["annotations"], labels)]
    return relabelled


def load_inputs(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    ensure_bench_data(args.data)
    ground_truth = json.loads((args.data / "train.json").read_text())
    if args.categories:
        ground_truth = relabel(ground_truth, args.categories, args.seed)
    cache = args.cache / f"results_{args.per_image}_seed{args.seed}_classes{args.categories or 'bench'}.json"
    if not cache.exists():
        started = time.perf_counter()
        print(f"generating {args.per_image} detections per image ...", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_suffix(".tmp")
        temporary.write_text(json.dumps(make_results(ground_truth, args.per_image, args.seed)))
        temporary.replace(cache)
        print(f"  done in {time.perf_counter() - started:.0f} s, cached in {cache}", flush=True)
    return ground_truth, json.loads(cache.read_text())


def run_instaseg(ground_truth: dict, results: list[dict], iou_type: str) -> np.ndarray:
    from instaseg.evaluation.coco import evaluate_coco

    stats = evaluate_coco(ground_truth, results, iou_type).stats
    return np.array([stats[name] for name in STATS])


def run_pycocotools(ground_truth: dict, results: list[dict], iou_type: str) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return np.array(evaluation.stats)


def run_faster_coco_eval(ground_truth: dict, results: list[dict], iou_type: str) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ground_truth)
        evaluation = COCOeval_faster(gt, gt.loadRes(results), iou_type, print_function=lambda *a, **k: None)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return np.array(evaluation.stats[:12])


def timed_once(function, ground_truth: dict, results: list[dict], iou_type: str) -> tuple[float, np.ndarray]:
    gt_copy, results_copy = copy.deepcopy(ground_truth), copy.deepcopy(results)
    gc.collect()  # the copies' garbage is the harness's: collect it before, not during, the timing
    started = time.perf_counter()
    stats = function(gt_copy, results_copy, iou_type)
    return time.perf_counter() - started, stats


def startup_seconds() -> float:
    """What a fresh process pays once before its first evaluation: importing the evaluator (numba included)
    and loading its compiled kernels from numba's cache (the very first run after installing also compiles
    them, a few seconds more)."""
    code = ("import time; started = time.perf_counter(); from instaseg.evaluation.coco import evaluate_coco; "
            "gt = {'images': [{'id': 1, 'height': 4, 'width': 4}], 'categories': [{'id': 1}], 'annotations': "
            "[{'id': 1, 'image_id': 1, 'category_id': 1, 'area': 4, 'bbox': [0, 0, 2, 2], "
            "'segmentation': [[0, 0, 2, 0, 2, 2, 0, 2]]}]}; "
            "results = [{'image_id': 1, 'category_id': 1, 'score': 1.0, 'bbox': [0, 0, 2, 2], "
            "'segmentation': {'size': [4, 4], 'counts': '02208'}}]; "
            "[evaluate_coco(gt, results, t) for t in ('segm', 'bbox')]; print(time.perf_counter() - started)")
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=environment)  # fills the cache
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environment)
    return float(output.stdout.strip())


def _worker(function, ground_truth: dict, results: list[dict], connection) -> None:
    """One evaluator in a process of its own: times ``function`` on each IoU type it is sent."""
    function(copy.deepcopy(ground_truth), copy.deepcopy(results[:100]), "segm")  # imports, compiled kernels
    while (iou_type := connection.recv()) is not None:
        connection.send(timed_once(function, ground_truth, results, iou_type))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    evaluators = {"pycocotools": run_pycocotools, "instaseg": run_instaseg}
    try:
        import faster_coco_eval  # noqa: F401
        evaluators["faster-coco-eval"] = run_faster_coco_eval
    except ImportError:
        print("faster-coco-eval is not installed (uv run --group bench ...): timing the others only")
    ground_truth, results = load_inputs(args)
    # Each evaluator lives in its own process, forked once the inputs are parsed, and they take turns: none
    # runs in a heap another has churned (measured: instaseg ran 0.33 s beside faster-coco-eval in one process,
    # 0.29 s alone). Imports and compilation happen there before any clock starts.
    context = multiprocessing.get_context("fork")
    workers = {}
    for name, function in evaluators.items():
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker, args=(function, ground_truth, results, theirs), daemon=True)
        process.start()
        workers[name] = (process, ours)
    warn_if_busy()
    print(f"{len(ground_truth['images'])} images, {len(ground_truth['categories'])} classes, "
          f"{len(ground_truth['annotations'])} ground-truth instances, "
          f"{len(results)} detections ({len(results) / len(ground_truth['images']):.0f} per image)", flush=True)
    rows = []
    for iou_type in args.iou_types:
        # Rounds interleave the evaluators, so a change in the machine's speed affects them all alike; the
        # speed-up is the median of the rounds' ratios.
        times: dict[str, list[float]] = {name: [] for name in evaluators}
        stats: dict[str, np.ndarray] = {}
        for round_index in range(args.repeats):
            for name, (_, connection) in workers.items():
                connection.send(iou_type)
                seconds, stats[name] = connection.recv()
                times[name].append(seconds)
            print(f"  {iou_type} round {round_index + 1}: " + ", ".join(f"{name} {times[name][-1]:.2f} s"
                                                                     for name in evaluators), flush=True)
        reference = times["pycocotools"]
        for name in evaluators:
            rows.append({"iou type": iou_type, "evaluator": name, "seconds": statistics.median(times[name]),
                         "speed-up": statistics.median(r / t for r, t in zip(reference, times[name])),
                         "max |stat diff|": float(np.abs(stats[name] - stats["pycocotools"]).max())})
        print(f"{iou_type}: pycocotools stats " + " ".join(f"{v:.4f}" for v in stats["pycocotools"]), flush=True)
    for process, connection in workers.values():
        connection.send(None)
        process.join()
    print()
    print(format_table(rows, (("iou type", "IoU type", "s"), ("evaluator", "evaluator", "s"),
                              ("seconds", "median s", ".2f"), ("speed-up", "x pycocotools", ".1f"),
                              ("max |stat diff|", "max |stat - pycocotools|", ".1e"))))
    print(f"\ninstaseg's one-off start-up in a fresh process (import, compiled kernels from cache): "
          f"{startup_seconds():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
