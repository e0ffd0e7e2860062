"""Panoptic quality (Kirillov et al., CVPR 2019) from COCO panoptic files. (The merge of instance
predictions into a panoptic prediction is ``inference.postprocess.panoptic``.)

The counting follows the reference ``panopticapi`` (pq_compute): segments match when they share a category
and IoU > 0.5, where the union leaves out the prediction's pixels on void (unlabelled) ground truth;
crowd ground truth never matches and is not a false negative; an unmatched prediction is not a false
positive when more than half of it lies on void or on the crowd region of its category. Ground-truth areas
come from the JSON, prediction areas from the PNG, as the reference does. PQ averages over the classes that
have any true positive, false positive or false negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from instaseg.errors import InstasegError

VOID = 0
OFFSET = 256 * 256 * 256  # segment ids are < 2^24 (RGB)


class PanopticInputError(InstasegError):
    """Panoptic ground truth or predictions that cannot be evaluated; the message names the file and segment."""


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 COCO panoptic PNG -> (H, W) segment ids (R + 256 G + 256^2 B)."""
    rgb = rgb.astype(np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    ids = ids.astype(np.uint32)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


@dataclass
class ClassCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou: float = 0.0  # sum of the true positives' IoU


@dataclass
class PanopticResult:
    """PQ, SQ and RQ (in [0, 1]) for 'All', 'Things' and 'Stuff', and per class (by category id)."""

    summary: dict[str, dict[str, float]]
    per_class: dict[int, dict[str, float]]
    category_names: dict[int, str] = field(default_factory=dict)


def image_counts(gt_ids: np.ndarray, gt_segments: Sequence[dict], pred_ids: np.ndarray,
                 pred_segments: Sequence[dict], counts: dict[int, ClassCounts], where: str = "",
                 category_ids: set[int] | None = None) -> None:
    """Add one image's true positives, false positives, false negatives and IoU sum to ``counts``;
    predicted segments must name one of ``category_ids`` when given."""
    gt_info = {int(s["id"]): s for s in gt_segments}
    pred_info = {int(s["id"]): dict(s) for s in pred_segments}
    for label, info in pred_info.items():
        if category_ids is not None and int(info["category_id"]) not in category_ids:
            raise PanopticInputError(f"{where}: segment {label} has category_id {info['category_id']}, which the "
                                     "ground truth's categories do not list")
    labels, areas = np.unique(pred_ids, return_counts=True)
    for label, area in zip(labels.tolist(), areas.tolist()):
        if label == VOID:
            continue
        if label not in pred_info:
            raise PanopticInputError(f"{where}: the PNG has segment {label}, which segments_info does not list")
        pred_info[label]["area"] = area
    absent = sorted(set(pred_info) - set(labels.tolist()))
    if absent:
        raise PanopticInputError(f"{where}: segments_info lists segment {absent[0]}, which is not in the PNG")
    # Intersections of every (ground truth, prediction) pair, void included, from one pass over the pixels.
    joint = gt_ids.astype(np.uint64) * OFFSET + pred_ids.astype(np.uint64)
    pairs, intersections = np.unique(joint, return_counts=True)
    overlap = {(int(p // OFFSET), int(p % OFFSET)): int(n) for p, n in zip(pairs, intersections)}
    matched_gt, matched_pred = set(), set()
    for (gt_label, pred_label), intersection in overlap.items():
        if gt_label not in gt_info or pred_label not in pred_info:
            continue
        gt, pred = gt_info[gt_label], pred_info[pred_label]
        if gt.get("iscrowd", 0) == 1 or gt["category_id"] != pred["category_id"]:
            continue
        union = pred["area"] + gt["area"] - intersection - overlap.get((VOID, pred_label), 0)
        iou = intersection / union
        if iou > 0.5:
            entry = counts.setdefault(int(gt["category_id"]), ClassCounts())
            entry.tp += 1
            entry.iou += iou
            matched_gt.add(gt_label)
            matched_pred.add(pred_label)
    crowd_of_category = {}
    for gt_label, gt in gt_info.items():
        if gt.get("iscrowd", 0) == 1:
            crowd_of_category[int(gt["category_id"])] = gt_label
        elif gt_label not in matched_gt:
            counts.setdefault(int(gt["category_id"]), ClassCounts()).fn += 1
    for pred_label, pred in pred_info.items():
        if pred_label in matched_pred:
            continue
        ignored = overlap.get((VOID, pred_label), 0)
        if int(pred["category_id"]) in crowd_of_category:
            ignored += overlap.get((crowd_of_category[int(pred["category_id"])], pred_label), 0)
        if ignored / pred["area"] > 0.5:
            continue
        counts.setdefault(int(pred["category_id"]), ClassCounts()).fp += 1


def summarize(counts: dict[int, ClassCounts], categories: Sequence[dict]) -> PanopticResult:
    """The reference's averages: over classes with any TP, FP or FN, for all, things and stuff."""
    per_class, summary = {}, {}
    for category in categories:
        entry = counts.get(int(category["id"]), ClassCounts())
        denominator = entry.tp + 0.5 * entry.fp + 0.5 * entry.fn
        if denominator == 0:
            per_class[int(category["id"])] = {"PQ": 0.0, "SQ": 0.0, "RQ": 0.0, "TP": 0, "FP": 0, "FN": 0}
            continue
        per_class[int(category["id"])] = {"PQ": entry.iou / denominator,
                                          "SQ": entry.iou / entry.tp if entry.tp else 0.0, "RQ": entry.tp / denominator,
                                          "TP": entry.tp, "FP": entry.fp, "FN": entry.fn}
    for name, wanted in (("All", None), ("Things", True), ("Stuff", False)):
        chosen = [c for c in categories if wanted is None or bool(c.get("isthing", 1)) == wanted]
        active = [per_class[int(c["id"])] for c in chosen
                  if sum(per_class[int(c["id"])][k] for k in ("TP", "FP", "FN")) > 0]
        summary[name] = {key: float(np.mean([r[key] for r in active])) if active else 0.0
                         for key in ("PQ", "SQ", "RQ")}
        summary[name]["classes"] = len(active)
    return PanopticResult(summary=summary, per_class=per_class,
                          category_names={int(c["id"]): str(c.get("name", c["id"])) for c in categories})


def evaluate_panoptic(gt_json: dict[str, Any], gt_folder: Path, pred_json: dict[str, Any], pred_folder: Path,
                      ) -> PanopticResult:
    """PQ of COCO panoptic predictions (``pred_json`` with its PNG folder) against the ground truth."""
    from PIL import Image

    predictions = {int(a["image_id"]): a for a in pred_json.get("annotations", [])}
    counts: dict[int, ClassCounts] = {}
    for index, annotation in enumerate(gt_json["annotations"]):
        image_id = int(annotation["image_id"])
        if image_id not in predictions:
            raise PanopticInputError(f"predictions: no annotation for image {image_id}")
        prediction = predictions[image_id]
        arrays = []
        for folder, record, side in ((gt_folder, annotation, "ground truth"), (pred_folder, prediction, "predictions")):
            path = Path(folder) / record["file_name"]
            try:
                with Image.open(path) as png:
                    arrays.append(rgb_to_id(np.asarray(png.convert("RGB"))))
            except OSError as error:
                raise PanopticInputError(f"{side}: image {image_id}: cannot read {path}: {error}") from None
        if arrays[0].shape != arrays[1].shape:
            raise PanopticInputError(f"predictions: image {image_id}: PNG is {arrays[1].shape[::-1]}, the ground "
                                     f"truth's is {arrays[0].shape[::-1]}")
        image_counts(arrays[0], annotation["segments_info"], arrays[1], prediction["segments_info"], counts,
                     where=f"predictions: image {image_id} ({prediction['file_name']})",
                     category_ids={int(c["id"]) for c in gt_json["categories"]})
    return summarize(counts, gt_json["categories"])
