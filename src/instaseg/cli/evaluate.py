"""``instaseg eval``: COCO AP / AR against ground truth, identical to pycocotools: of a results file
(``--pred``), or of a checkpoint (``--weights``) predicted on the ground truth's images first."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from instaseg.errors import InstasegError


IOU_CHOICES = {"segm": ("segm",), "bbox": ("bbox",), "boundary": ("boundary",), "both": ("segm", "bbox"),
               "all": ("segm", "bbox", "boundary"), "panoptic": ()}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="score COCO results against ground truth (AP/AR, report)",
                                   description=__doc__)
    parser.add_argument("--gt", required=True, type=Path, help="ground-truth COCO JSON")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", type=Path, help="COCO results JSON (a list of detections)")
    source.add_argument("--weights", type=Path, help="checkpoint to predict the ground truth's images with, keeping "
                                                     "instances down to a score of 0.001, at most 100 per image")
    parser.add_argument("--images", type=Path, help="--weights: image folder of --gt (default: images/ beside it)")
    parser.add_argument("--device", default="cpu", help="--weights: cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch", type=int, default=4, help="--weights: images per model call (default 4)")
    parser.add_argument("--iou-type", choices=tuple(IOU_CHOICES), default="both",
                        help="both: segm and bbox; boundary: Boundary AP (min of mask and boundary IoU); "
                             "all: the three; panoptic: PQ / SQ / RQ of COCO panoptic files (PNG + JSON)")
    parser.add_argument("--gt-folder", type=Path, help="panoptic: ground-truth PNGs (default: --gt without .json)")
    parser.add_argument("--pred-folder", type=Path, help="panoptic: predicted PNGs (default: --pred without .json)")
    parser.add_argument("--out", type=Path, help="write metrics.json and report.md / report.html here")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.add_argument("--confusion-threshold", type=float, default=0.5,
                        help="score above which predictions count in the report's confusion matrix and "
                             "fragmentation / merging counts (AP uses every prediction)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.evaluation.coco import evaluate_coco
    from instaseg.evaluation.report import write_report
    from instaseg.evaluation.report.writer import class_table, stats_table
    from instaseg.utils.files import atomic_write_json, prepare_output_dir

    if args.iou_type == "panoptic" and args.weights is not None:
        raise InstasegError("--iou-type panoptic scores panoptic files (--pred); instance checkpoints are scored "
                            "with segm, bbox or boundary")
    if args.out is not None and args.out.exists():
        prepare_output_dir(args.out, args.overwrite)  # refuses a non-empty folder before any work
    if args.iou_type == "panoptic":
        return run_panoptic(args, prepare_output_dir(args.out, args.overwrite) if args.out else None)
    # With --weights the image files are checked too: the ground truth is read and validated once.
    ground_truth = load_ground_truth(args.gt, args.images, check_images=args.weights is not None)
    results = predict_results(args, ground_truth) if args.weights is not None else load_results(args.pred)
    out = prepare_output_dir(args.out, args.overwrite) if args.out else None
    if out is not None and args.weights is not None:
        atomic_write_json(out / "results.json", results)  # what was scored, for instaseg eval --pred
    scored = args.pred or args.weights
    iou_types = IOU_CHOICES[args.iou_type]
    evaluations = {}
    for iou_type in iou_types:
        started = time.perf_counter()
        evaluations[iou_type] = evaluate_coco(ground_truth, results, iou_type, results_name=str(scored))
        if evaluations[iou_type].boundary_f1 is not None:
            print(f"{iou_type}: mean boundary F1 of true positives at IoU 0.5: {evaluations[iou_type].boundary_f1:.4f}")
        print(f"{iou_type}: {len(results)} detections on {len(ground_truth['images'])} images evaluated in "
              f"{time.perf_counter() - started:.2f} s")
    for rows in (stats_table(evaluations), class_table(evaluations)):
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        print()
        for row in rows:
            print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
    if out is not None:
        from instaseg.evaluation.errors import analyse_evaluation

        # Error analysis of the mask evaluation (boxes when only boxes were asked for), reusing its matches.
        error_type = "bbox" if iou_types == ("bbox",) else "segm"
        base = evaluations.get(error_type) or evaluate_coco(ground_truth, results, error_type,
                                                             results_name=str(scored))
        errors = analyse_evaluation(base, score_threshold=args.confusion_threshold)
        files = write_report(evaluations, out, f"Evaluation of {scored.name} against {args.gt.name}", errors)
        print(f"\nwrote {', '.join(f.name for f in files)} to {out}")
    return 0


def predict_results(args: argparse.Namespace, ground_truth: dict) -> list[dict]:
    """COCO results of the checkpoint on every image of the (validated) ``ground_truth``, through the predictor
    (the path validation takes), keyed by its image ids."""
    from instaseg.data.formats.coco import coco_to_dataset
    from instaseg.data.validation import resolve_image_root
    from instaseg.evaluation.coco import instances_to_coco_results
    from instaseg.inference.dataset_prediction import predict_dataset
    from instaseg.inference.predictor import EVALUATION_MAX_INSTANCES, EVALUATION_SCORE_FLOOR, Predictor

    if args.batch < 1:
        raise InstasegError(f"--batch must be at least 1; got {args.batch}")
    dataset = coco_to_dataset(ground_truth, resolve_image_root(args.gt, args.images))
    predictor = Predictor.from_checkpoint(args.weights, device=args.device, score_threshold=EVALUATION_SCORE_FLOOR,
                                          max_instances=EVALUATION_MAX_INSTANCES)
    if sorted(predictor.category_ids) != sorted(c.id for c in dataset.categories):
        raise InstasegError(f"{args.weights} predicts categories {predictor.category_ids}, but {args.gt} has "
                            f"{sorted(c.id for c in dataset.categories)}")
    results: list[dict] = []
    for record, prediction in predict_dataset(predictor, dataset, batch_size=args.batch, progress=True):
        results.extend(instances_to_coco_results(prediction.instances, record.id, predictor.category_ids))
    return results


def load_ground_truth(path: Path, images: Path | None = None, check_images: bool = False) -> dict:
    """The parsed COCO file after the strict checks (and its image files' headers, with ``check_images``);
    errors list every problem with its record and field."""
    from instaseg.data.validation import load_checked_payload

    return load_checked_payload(path, images, check_images)


def load_results(path: Path) -> list[dict]:
    """A COCO results list (or an object holding it under ``annotations``)."""
    from instaseg.data.validation.parsing import read_json
    from instaseg.evaluation.coco import EvaluationInputError

    if not path.is_file():
        raise EvaluationInputError(f"{path}: file not found")
    payload, problems = read_json(path, str(path))
    if problems:
        problem = problems[0]
        where = f" (line {problem.line}, column {problem.column})" if getattr(problem, "line", None) else ""
        raise EvaluationInputError(f"{path}{where}: {problem.message}")
    if isinstance(payload, dict) and isinstance(payload.get("annotations"), list):
        payload = payload["annotations"]
    if not isinstance(payload, list):
        raise EvaluationInputError(f"{path}: expected a JSON list of COCO results, got {type(payload).__name__}")
    return payload


def run_panoptic(args: argparse.Namespace, out: Path | None) -> int:
    from instaseg.data.validation.parsing import read_json
    from instaseg.evaluation.panoptic import PanopticInputError, evaluate_panoptic
    from instaseg.utils.files import atomic_write_json

    payloads = []
    for path in (args.gt, args.pred):
        payload, problems = read_json(path, str(path)) if path.is_file() else (None, None)
        if payload is None:
            raise PanopticInputError(f"{path}: " + (problems[0].message if problems else "file not found"))
        if not isinstance(payload, dict) or not isinstance(payload.get("annotations"), list):
            raise PanopticInputError(f"{path}: expected a COCO panoptic JSON object with an 'annotations' list")
        payloads.append(payload)
    if "categories" not in payloads[0]:
        raise PanopticInputError(f"{args.gt}: 'categories' is missing")
    result = evaluate_panoptic(payloads[0], args.gt_folder or args.gt.with_suffix(""), payloads[1],
                               args.pred_folder or args.pred.with_suffix(""))
    print(f"{'':8}{'PQ':>8}{'SQ':>8}{'RQ':>8}  classes")
    for name, values in result.summary.items():
        print(f"{name:8}" + "".join(f"{100 * values[k]:8.2f}" for k in ("PQ", "SQ", "RQ")) + f"  {values['classes']}")
    print()
    for category_id, values in result.per_class.items():
        print(f"{result.category_names[category_id]:>20}  PQ {100 * values['PQ']:6.2f}  SQ {100 * values['SQ']:6.2f}  "
              f"RQ {100 * values['RQ']:6.2f}  TP {values['TP']}  FP {values['FP']}  FN {values['FN']}")
    if out is not None:
        atomic_write_json(out / "metrics.json", {"panoptic": result.summary, "per_class": {
            result.category_names[c]: v for c, v in result.per_class.items()}}, indent=2)
        print(f"\nwrote metrics.json to {out}")
    return 0
