"""``instaseg eval``: COCO AP / AR of a results file against ground truth, identical to pycocotools."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


IOU_CHOICES = {"segm": ("segm",), "bbox": ("bbox",), "boundary": ("boundary",), "both": ("segm", "bbox"),
               "all": ("segm", "bbox", "boundary"), "panoptic": ()}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="score COCO results against ground truth (AP/AR, report)",
                                   description=__doc__)
    parser.add_argument("--gt", required=True, type=Path, help="ground-truth COCO JSON")
    parser.add_argument("--pred", required=True, type=Path, help="COCO results JSON (a list of detections)")
    parser.add_argument("--iou-type", choices=tuple(IOU_CHOICES), default="both",
                        help="both: segm and bbox; boundary: Boundary AP (min of mask and boundary IoU); "
                             "all: the three; panoptic: PQ / SQ / RQ of COCO panoptic files (PNG + JSON)")
    parser.add_argument("--gt-folder", type=Path, help="panoptic: ground-truth PNGs (default: --gt without .json)")
    parser.add_argument("--pred-folder", type=Path, help="panoptic: predicted PNGs (default: --pred without .json)")
    parser.add_argument("--out", type=Path, help="write metrics.json and report.md / report.html here")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="predictions counted in the confusion matrix and fragmentation / merging counts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.evaluation.coco import evaluate_coco
    from instaseg.evaluation.report import write_report
    from instaseg.evaluation.report.writer import class_table, stats_table
    from instaseg.utils.files import prepare_output_dir

    out = prepare_output_dir(args.out, args.overwrite) if args.out else None
    if args.iou_type == "panoptic":
        return run_panoptic(args, out)
    ground_truth = load_ground_truth(args.gt)
    results = load_results(args.pred)
    iou_types = IOU_CHOICES[args.iou_type]
    evaluations = {}
    for iou_type in iou_types:
        started = time.perf_counter()
        evaluations[iou_type] = evaluate_coco(ground_truth, results, iou_type, results_name=str(args.pred))
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
                                                             results_name=str(args.pred))
        errors = analyse_evaluation(base, score_threshold=args.score_threshold)
        files = write_report(evaluations, out, f"Evaluation of {args.pred.name} against {args.gt.name}", errors)
        print(f"\nwrote {', '.join(f.name for f in files)} to {out}")
    return 0


def load_ground_truth(path: Path) -> dict:
    """The parsed COCO file after the strict checks; errors list every problem with its record and field."""
    from instaseg.data.validation import check_coco, format_problems
    from instaseg.errors import DatasetError

    report = check_coco(path, check_images=False)
    if report.errors:
        raise DatasetError(f"{report.summary()}:\n  " + "\n  ".join(format_problems(report.errors, 5)))
    return report.payload


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
