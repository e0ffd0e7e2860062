"""metrics.json and a Markdown + HTML report (tables and pictures) for ``instaseg eval --out``."""

from __future__ import annotations

import html
import math
from pathlib import Path

from instaseg.evaluation.coco.evaluator import COCOEvaluation
from instaseg.evaluation.coco.params import STAT_NAMES
from instaseg.evaluation.report.plots import (plot_class_ap, plot_confusion, plot_error_breakdown, plot_iou_histogram,
                                             plot_pr_curves)
from instaseg.utils.files import atomic_write_json, atomic_write_text


def metrics_payload(evaluations: dict[str, COCOEvaluation]) -> dict:
    """The numbers of every evaluation, JSON-ready (undefined per-class AP as null)."""
    return {iou_type: {"stats": evaluation.stats,
                       "per_class_AP": {name: (None if math.isnan(ap) else float(ap))
                                        for name, ap in zip(evaluation.category_names, evaluation.category_ap)},
                       "matched_pairs": int(len(evaluation.matched_ious)),
                       **({"boundary_F1": evaluation.boundary_f1} if evaluation.boundary_f1 is not None else {})}
            for iou_type, evaluation in evaluations.items()}


def stats_table(evaluations: dict[str, COCOEvaluation]) -> list[list[str]]:
    return [["", *STAT_NAMES]] + [[iou_type, *(f"{e.stats[n]:.4f}" for n in STAT_NAMES)]
                                  for iou_type, e in evaluations.items()]


def class_table(evaluations: dict[str, COCOEvaluation]) -> list[list[str]]:
    first = next(iter(evaluations.values()))
    rows = [["class", *(f"{iou_type} AP" for iou_type in evaluations)]]
    for k, name in enumerate(first.category_names):
        rows.append([name, *("-" if math.isnan(e.category_ap[k]) else f"{e.category_ap[k]:.4f}"
                             for e in evaluations.values())])
    return rows


def write_report(evaluations: dict[str, COCOEvaluation], out: Path, title: str, errors=None) -> list[Path]:
    """Write metrics.json, the pictures, report.md and report.html into ``out``; return the files written.

    Args:
        errors: an ``ErrorAnalysis`` to add (error breakdown and confusion matrix), or None.
    """
    out.mkdir(parents=True, exist_ok=True)
    payload = metrics_payload(evaluations)
    if errors is not None:
        payload["errors"] = {"AP50": errors.ap50, "delta_AP50": errors.delta_ap, "counts": errors.counts,
                             "fragmented": errors.fragmented, "merged": errors.merged,
                             "score_threshold": errors.score_threshold, "confusion": errors.confusion.tolist(),
                             "confusion_labels": [*errors.category_names, "background"]}
    atomic_write_json(out / "metrics.json", payload, indent=2)
    pictures = [("AP per class", "class_ap.png")]
    plot_class_ap(evaluations, out / "class_ap.png")
    for iou_type, evaluation in evaluations.items():
        plot_pr_curves(evaluation, out / f"pr_curves_{iou_type}.png")
        plot_iou_histogram(evaluation, out / f"iou_histogram_{iou_type}.png")
        pictures += [(f"{iou_type}: precision-recall", f"pr_curves_{iou_type}.png"),
                     (f"{iou_type}: IoU of matched pairs", f"iou_histogram_{iou_type}.png")]
    tables = [("COCO metrics", stats_table(evaluations)), ("AP per class", class_table(evaluations))]
    if errors is not None:
        plot_error_breakdown(errors, out / "errors.png")
        plot_confusion(errors, out / "confusion.png")
        pictures += [("Errors at IoU 0.5", "errors.png"), ("Confusion matrix", "confusion.png")]
        tables.append(("Errors at IoU 0.5 (AP50 points gained by fixing each)",
                       [["error", "AP50 gain", "count"], *[[name, f"{100 * errors.delta_ap[name]:.2f}",
                                                            str(errors.counts[name])] for name in errors.delta_ap],
                        ["fragmented ground truths", "-", str(errors.fragmented)],
                        ["merged predictions", "-", str(errors.merged)]]))
    f1 = [[iou_type, f"{e.boundary_f1:.4f}"] for iou_type, e in evaluations.items() if e.boundary_f1 is not None]
    if f1:
        tables.append(("Boundary F1 of true positives at IoU 0.5", [["evaluation", "mean boundary F1"], *f1]))
    atomic_write_text(out / "report.md", _markdown(title, tables, pictures))
    atomic_write_text(out / "report.html", _html(title, tables, pictures))
    return [out / name for name in ("metrics.json", "report.md", "report.html")] + [out / p for _, p in pictures]


def _markdown(title: str, tables: list, pictures: list) -> str:
    lines = [f"# {title}", ""]
    for heading, rows in tables:
        lines += [f"## {heading}", "", "| " + " | ".join(rows[0]) + " |", "|---" * len(rows[0]) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]] + [""]
    lines += ["## Pictures", ""] + [f"![{caption}]({name})" for caption, name in pictures]
    return "\n".join(lines) + "\n"


def _html(title: str, tables: list, pictures: list) -> str:
    escape = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%;display:block}"
             f"</style></head><body><h1>{escape(title)}</h1>"]
    for heading, rows in tables:
        parts.append(f"<h2>{escape(heading)}</h2><table><tr>" + "".join(f"<th>{escape(c)}</th>" for c in rows[0])
                     + "</tr>" + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                                         for row in rows[1:]) + "</table>")
    for caption, name in pictures:
        parts.append(f"<h2>{escape(caption)}</h2><img src='{escape(name)}' alt='{escape(caption)}'>")
    return "".join(parts) + "</body></html>\n"
